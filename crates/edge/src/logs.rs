//! Tracing to stderr (stdout is for what a command prints), filtered by `RUST_LOG`.

use tracing_subscriber::EnvFilter;

/// Installs the subscriber; `default` is the filter when `RUST_LOG` is unset or
/// unreadable (`"info"` for a server).
pub fn init(default: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default)))
        .with_writer(std::io::stderr)
        .init();
}
