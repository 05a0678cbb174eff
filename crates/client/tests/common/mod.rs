//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses its own subset

pub mod cases;
pub mod http_proxy;
pub mod providers;
pub mod servers;

use std::io::Write;
use std::sync::{Arc, Mutex};

use superset_client::token_store::{KeyLocation, KEYRING_SERVICE};
use superset_client::TokenStore;

/// Log lines written while the returned guard lives on this thread.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    pub fn start() -> (Self, tracing::subscriber::DefaultGuard) {
        let logs = CapturedLogs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    pub fn count(&self, needle: &str) -> usize {
        self.text().matches(needle).count()
    }
}

impl Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Deletes the key that `store`'s token is sealed with, wherever it lives.
pub fn delete_key(store: &TokenStore) {
    match store.key_location() {
        KeyLocation::Keyring { account } => keyring::Entry::new(KEYRING_SERVICE, &account)
            .and_then(|e| e.delete_credential())
            .expect("delete the key from the keyring"),
        KeyLocation::File(path) => std::fs::remove_file(path).expect("delete the key file"),
    }
}

#[cfg(unix)]
pub fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}
