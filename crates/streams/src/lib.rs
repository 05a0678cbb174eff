//! superset-streams: the streams server. Every conversation is a Durable Stream kept
//! here; every request under `/v1` must carry a valid user session token, checked
//! against `auth.sessions` with nothing but `DATABASE_URL`. There is no shared secret.
//!
//! - [`config`]: the typed configuration, from flags and environment.
//! - `api_error`: every refusal's one shape (`{"error"}`, `Retry-After`).
//! - [`auth`]: the session middleware and its cache of validated tokens.
//! - `health`: liveness and readiness probes.
//! - `listener`: following a PostgreSQL notification channel, reconnecting.
//! - [`limits`]: what one user may use (request rate, live reads, what they keep).
//! - [`server`]: the router and the server's life cycle (bind, serve, shut down).
//! - [`store`]: where streams are kept ([`Store`]; a file log or PostgreSQL).
//! - `stream`: the Durable Streams protocol under `/v1/stream/{path}`.
//! - `sessions`: the chat-session API under `/v1/sessions`, on top of the store.

mod api_error;
pub mod auth;
pub mod config;
mod health;
pub mod limits;
mod listener;
pub mod server;
mod sessions;
pub mod store;
mod stream;

pub use auth::AuthUser;
pub use config::{Config, StorageKind};
pub use server::{AppState, Server, StartError};
pub use store::{Store, StreamKey};
