//! superset-api: the auth server. An OAuth 2.0 authorization server for the desktop
//! app (a public client using PKCE and a loopback redirect, RFC 8252) that signs people
//! in through GitHub, Google, any OpenID Connect issuer or, locally, a dev form, and
//! issues each sign-in as a session row in `auth.sessions`, the row the streams server
//! checks every request against.
//!
//! - [`config`]: flags and environment, parsed once; which sign-in methods are on.
//! - [`server`]: the router and the server's life cycle (bind, serve, shut down).
//! - `metadata`: the RFC 8414 document describing the endpoints.
//! - `authorize`: the desktop's authorization request, checked.
//! - `signin`: the browser's part: sign-in page, upstream round trip, dev form, code.
//! - `upstream`: talking to GitHub and OpenID Connect providers.
//! - `pending`: sign-ins in progress and issued codes, kept in `auth.verifications`.
//! - `token`: the code-for-session exchange and revocation.
//! - `me`: who a token belongs to.
//! - `sessions`: the caller's devices (live sessions), listed and revoked.
//! - `bearer`: what the Bearer endpoints share: the caller's session, renewed when
//!   due (sliding expiry), and the uniform 401/503 answers.
//! - `registered_client`: the registered client's rules (redirect URIs, PKCE) and how
//!   answers are sent back to its redirect URI.
//! - `provider`: which upstream provider a sign-in goes through.
//!
//! Imports run one way: handlers (`authorize`, `signin`, `token`, `me`) use flows
//! (`upstream`, `registered_client`), which use what is stored (`pending`).
//! - `params`, `oauth_error`, `pages`: request parsing, RFC 6749 error answers, HTML.
//! - `rate_limit`: what anonymous callers may cost: per-address rates for the token and
//!   authorization endpoints, and the quota of sign-ins in progress.
//!
//! The client's address behind trusted proxies comes from `superset_edge::address`,
//! which the streams server shares.

mod authorize;
mod bearer;
pub mod config;
mod me;
mod metadata;
mod oauth_error;
mod pages;
mod params;
mod pending;
mod provider;
mod rate_limit;
mod registered_client;
pub mod server;
mod sessions;
mod signin;
mod token;
mod upstream;

pub use config::{Config, ConfigError, Secret};
pub use registered_client::DESKTOP_CLIENT_ID;
pub use server::{Server, StartError};
