//! superset-client: the client core shared by the desktop app and the `superset` CLI.
//! It has no Tauri dependency, so everything here runs and is tested without a display.
//!
//! - [`home`]: where the client keeps its files (`$SUPERSET_HOME`, default `~/.superset`).
//! - [`servers`]: where the auth and streams servers are.
//! - [`token_store`]: the session token, encrypted at rest, its key in the OS keyring.
//! - [`login`]: OAuth sign-in through the system browser and a loopback redirect.
//! - `http`: the one HTTP client configuration.

pub mod home;
mod http;
pub mod login;
pub mod servers;
pub mod token_store;

pub use login::{Login, LoginError};
pub use servers::ServerUrls;
pub use token_store::{clear_token, load_token, save_token, StoredToken, TokenStore, TokenStoreError};
