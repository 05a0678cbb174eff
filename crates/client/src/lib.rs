//! superset-client: the client core shared by the desktop app and the `superset` CLI.
//! It has no Tauri dependency, so everything here runs and is tested without a display.
//!
//! - [`home`]: where the client keeps its files (`$SUPERSET_HOME`, default `~/.superset`).
//! - [`servers`]: where the auth and streams servers are.
//! - [`token_store`]: the session token, encrypted at rest, its key in the OS keyring.
//! - [`login`]: OAuth sign-in through the system browser and a loopback redirect.
//! - [`session_manager`]: every call to the servers once signed in, with the token,
//!   sign-out, and what 401 and 503 mean.
//! - [`subscription`]: following a stream live over SSE, resumed from the last offset.
//! - [`chats`]: the chat API (`/v1/sessions`: the protocol's word for a chat).
//! - [`assistant`]: replies generated here, from Anthropic, an OpenAI-compatible
//!   server or the offline echo, streamed into the session.
//! - [`backoff`]: how retries are spaced, and the circuit breaker that bounds them.
//! - [`wake`]: noticing the machine slept, so nothing waits on dead sockets.
//! - [`replica`]: the local copy of every chat (offline reading, the outbox of
//!   messages typed offline, the last known user), resumed from each stream's offset.
//! - [`outage`]: why a server cannot be used now, in plain words.
//! - [`devices`]: where the account is signed in (`/api/sessions`), and revoking it.
//! - [`search`]: finding words in every conversation, as one types.
//! - [`transfer`]: a conversation exported to Markdown or JSON, and imported back.
//! - `http`: the one HTTP client configuration, and the `User-Agent` naming this program.

pub mod assistant;
pub mod backoff;
pub mod chats;
pub mod devices;
pub mod home;
mod http;
pub mod login;
pub mod outage;
pub mod replica;
pub mod search;
pub mod servers;
pub mod session_manager;
pub mod subscription;
pub mod token_store;
pub mod transfer;
pub mod wake;

pub use backoff::RetryPolicy;
pub use http::identify_as;
pub use login::{LinkReceiver, Login, LoginError, ReturnPath};
pub use outage::Outage;
pub use servers::ServerUrls;
pub use session_manager::{AuthEvent, ClientError, SessionManager};
pub use subscription::{StreamEvent, Subscription};
pub use token_store::{clear_token, load_token, save_token, StoredToken, TokenStore, TokenStoreError};
