//! Where the token's encryption key lives: the OS keyring (service `superset`), or,
//! where there is no keyring (a headless Linux box: no session bus, or no Secret
//! Service on it), a key file beside the token, readable by the user only. A keyring
//! that is there but fails this time (locked, its unlock prompt dismissed, timed out)
//! fails the save instead: falling back would leave the key in a file for good.
//!
//! Keyring calls block (D-Bus on Linux); async callers run them off the runtime.

use std::path::{Path, PathBuf};
use std::sync::Once;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use zeroize::Zeroizing;

use super::atomic_file;
use super::sealed::{new_key, Key, KeyKind};

/// The keyring service every Superset secret is filed under.
pub const KEYRING_SERVICE: &str = "superset";

/// Where a key is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyLocation {
    /// In the OS keyring, under service [`KEYRING_SERVICE`] and this account name.
    Keyring { account: String },
    /// In this file (mode 0600), because no keyring was reachable.
    File(PathBuf),
}

/// What looking the key up found.
pub enum KeyLookup {
    Found(Key),
    /// The keyring answered without the key, or the key file is gone: a token sealed
    /// under it can never be opened again.
    Missing,
    /// No keyring answered: the key may come back with it (say, once the desktop
    /// session has unlocked it).
    Unreachable,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot store the token key in {path}: {source}")]
    File { path: PathBuf, source: std::io::Error },
    #[error("the OS keyring failed ({0}), so the session was not saved: unlock the keyring or try again, then sign in again")]
    Keyring(keyring::Error),
}

pub struct KeyStore {
    account: String,
    file: PathBuf,
}

enum KeyringAnswer {
    Key(Key),
    NoKey,
    /// There is no keyring on this machine.
    Absent(keyring::Error),
    /// The keyring is there but failed this time.
    Failed(keyring::Error),
}

impl KeyStore {
    /// The key of the token kept in `home`. Each home has its own keyring entry, so
    /// several profiles (or test runs) never share or overwrite a key.
    pub fn new(home: &Path) -> Self {
        let home = std::path::absolute(home).unwrap_or_else(|_| home.to_owned());
        KeyStore { account: format!("token-key:{}", home.display()), file: home.join("auth-token.key") }
    }

    /// The key a token file says it was sealed with.
    pub fn lookup(&self, kind: KeyKind) -> KeyLookup {
        match kind {
            KeyKind::Keyring => match self.ask_keyring() {
                KeyringAnswer::Key(key) => KeyLookup::Found(key),
                KeyringAnswer::NoKey => KeyLookup::Missing,
                KeyringAnswer::Absent(_) | KeyringAnswer::Failed(_) => KeyLookup::Unreachable,
            },
            KeyKind::File => self.read_file().map_or(KeyLookup::Missing, KeyLookup::Found),
        }
    }

    /// The key to seal a new token with: the one in the keyring (made on first use),
    /// or where there is no keyring, the key file's (made on first use). The caller
    /// holds the writers' lock, so two first saves never make two keys.
    pub fn lookup_or_create(&self) -> Result<(Key, KeyKind), KeyError> {
        match self.ask_keyring() {
            KeyringAnswer::Key(key) => Ok((key, KeyKind::Keyring)),
            KeyringAnswer::NoKey => {
                let key = new_key();
                let encoded = Zeroizing::new(STANDARD.encode(key.as_ref()));
                self.entry().and_then(|e| e.set_password(&encoded)).map_err(KeyError::Keyring)?;
                Ok((key, KeyKind::Keyring))
            }
            KeyringAnswer::Failed(e) => Err(KeyError::Keyring(e)),
            KeyringAnswer::Absent(why) => {
                self.note_fallback(&why);
                self.file_key()
            }
        }
    }

    fn file_key(&self) -> Result<(Key, KeyKind), KeyError> {
        if let Some(key) = self.read_file() {
            return Ok((key, KeyKind::File));
        }
        let key = new_key();
        atomic_file::write(&self.file, STANDARD.encode(key.as_ref()).as_bytes())
            .map_err(|source| KeyError::File { path: self.file.clone(), source })?;
        Ok((key, KeyKind::File))
    }

    /// Removes a key file left from a time without keyring, once the token is sealed
    /// under the keyring's key.
    pub fn remove_stale_file(&self) {
        if !self.file.exists() {
            return;
        }
        if let Err(e) = atomic_file::remove(&self.file) {
            tracing::warn!(path = %self.file.display(), error = %e, "cannot remove the old token key file");
        }
    }

    /// Removes the temporary files of key file writes that never finished (the caller
    /// holds the writer lock).
    pub fn remove_leftovers(&self) {
        atomic_file::remove_leftovers(&self.file);
    }

    /// Where a new key would be kept now.
    pub fn location(&self) -> KeyLocation {
        match self.ask_keyring() {
            KeyringAnswer::Absent(_) => KeyLocation::File(self.file.clone()),
            _ => self.keyring_location(),
        }
    }

    fn keyring_location(&self) -> KeyLocation {
        KeyLocation::Keyring { account: self.account.clone() }
    }

    fn entry(&self) -> keyring::Result<keyring::Entry> {
        keyring::Entry::new(KEYRING_SERVICE, &self.account)
    }

    fn ask_keyring(&self) -> KeyringAnswer {
        let answer = self.entry().and_then(|e| e.get_password());
        match answer {
            Ok(encoded) => match decode_key(encoded.as_bytes()) {
                Some(key) => KeyringAnswer::Key(key),
                None => {
                    tracing::warn!("the token key in the OS keyring is malformed; ignoring it");
                    KeyringAnswer::NoKey
                }
            },
            Err(keyring::Error::NoEntry) => KeyringAnswer::NoKey,
            Err(e) if no_keyring_here(&e) => KeyringAnswer::Absent(e),
            Err(e) => KeyringAnswer::Failed(e),
        }
    }

    fn read_file(&self) -> Option<Key> {
        let bytes = match std::fs::read(&self.file) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %self.file.display(), error = %e, "cannot read the token key file");
                return None;
            }
        };
        let key = decode_key(&bytes);
        if key.is_none() {
            tracing::warn!(path = %self.file.display(), "the token key file is malformed; ignoring it");
        }
        key
    }

    /// Says once per process that the key file is in use, and why.
    fn note_fallback(&self, why: &keyring::Error) {
        static NOTED: Once = Once::new();
        NOTED.call_once(|| {
            tracing::warn!(
                reason = %why,
                path = %self.file.display(),
                "no OS keyring reachable: the token key is kept in a file readable only by you"
            );
        });
    }
}

/// D-Bus errors that mean no Secret Service on this machine: no session bus to connect
/// to (none running, none to start), or nothing on it serving the Secret Service.
#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
const NO_SECRET_SERVICE: &[&str] = &[
    "org.freedesktop.DBus.Error.ServiceUnknown",
    "org.freedesktop.DBus.Error.NameHasNoOwner",
    "org.freedesktop.DBus.Error.NotSupported",
    "org.freedesktop.DBus.Error.NoServer",
    "org.freedesktop.DBus.Error.NoNetwork",
    "org.freedesktop.DBus.Error.FileNotFound",
    "org.freedesktop.DBus.Error.BadAddress",
];

/// Whether the keyring's error says there is no keyring here at all, rather than one
/// that failed this time. keyring reports both as a platform failure; the D-Bus error
/// it wraps tells them apart.
#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
fn no_keyring_here(error: &keyring::Error) -> bool {
    let keyring::Error::PlatformFailure(cause) = error else { return false };
    let Some(dbus_secret_service::Error::Dbus(e)) = cause.downcast_ref() else { return false };
    e.name()
        .is_some_and(|name| NO_SECRET_SERVICE.contains(&name) || name.starts_with("org.freedesktop.DBus.Error.Spawn."))
}

/// macOS and Windows always have their keyring: any error is one of this time.
#[cfg(not(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd")))]
fn no_keyring_here(_: &keyring::Error) -> bool {
    false
}

fn decode_key(encoded: &[u8]) -> Option<Key> {
    let bytes = Zeroizing::new(STANDARD.decode(encoded.trim_ascii()).ok()?);
    let array: [u8; 32] = bytes.as_slice().try_into().ok()?;
    Some(Zeroizing::new(array))
}
