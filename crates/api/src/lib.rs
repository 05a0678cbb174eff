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
//! - `client`: the registered client's rules: redirect URIs and PKCE.
//! - `params`, `oauth_error`, `pages`: request parsing, RFC 6749 error answers, HTML.
//! - `rate_limit`: what anonymous callers may cost: per-address rates for the token and
//!   authorization endpoints, and the quota of sign-ins in progress.
//!
//! The client's address behind trusted proxies comes from `superset_edge::address`,
//! which the streams server shares.

mod authorize;
mod client;
pub mod config;
mod me;
mod metadata;
mod oauth_error;
mod pages;
mod params;
mod pending;
mod rate_limit;
pub mod server;
mod signin;
mod token;
mod upstream;

pub use client::DESKTOP_CLIENT_ID;
pub use config::{Config, ConfigError, Secret};
pub use server::{Server, StartError};
