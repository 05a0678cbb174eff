//! What a server binary does at its edge, written once for both servers (and, for
//! stopping on a signal, the CLI).
//!
//! - [`cli`]: the command line's skeleton: the server's settings, and the `migrate`
//!   and `probe` tasks it can run instead of serving.
//! - [`logs`]: tracing to stderr, filtered by `RUST_LOG`.
//! - [`signal`]: SIGINT (Ctrl-C) or SIGTERM, the request to stop.
//! - [`serve`]: binding the listening socket, and the accept loop with its timeouts
//!   and connection caps.
//! - [`detach`]: long responses (SSE) sent outside hyper, which costs less memory.
//! - [`running`]: a server on a task of its own, as `superset dev`, tests and benches
//!   run it, or in the foreground until a signal, as the binaries run it.
//! - [`address`]: which client addresses count as one for per-client limits.
//! - [`probe`]: the images' health check.

pub mod address;
pub mod cli;
pub mod detach;
pub mod logs;
pub mod probe;
pub mod running;
pub mod serve;
pub mod signal;

pub use detach::Detach;
pub use probe::{health, ProbeError};
pub use running::{run, Bound, Running};
pub use serve::{bind, BindError};
