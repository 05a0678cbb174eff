//! The client's home directory.

use std::path::PathBuf;

/// The variable that moves the client's home (tests, several profiles on one machine).
pub const HOME_ENV: &str = "SUPERSET_HOME";

#[derive(Debug, thiserror::Error)]
#[error("cannot find the home directory: set SUPERSET_HOME")]
pub struct NoHomeError;

/// `$SUPERSET_HOME` when set and not empty, else `~/.superset`.
pub fn superset_home() -> Result<PathBuf, NoHomeError> {
    match std::env::var_os(HOME_ENV) {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir)),
        _ => dirs::home_dir().map(|h| h.join(".superset")).ok_or(NoHomeError),
    }
}
