//! Where the token's encryption key lives: the OS keyring (service `superset`), or,
//! where no keyring is reachable (a headless Linux box without a Secret Service), a
//! key file beside the token, readable by the user only.
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
}

pub struct KeyStore {
    account: String,
    file: PathBuf,
}

enum KeyringAnswer {
    Key(Key),
    NoKey,
    Unreachable,
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
                KeyringAnswer::Unreachable => KeyLookup::Unreachable,
            },
            KeyKind::File => self.read_file().map_or(KeyLookup::Missing, KeyLookup::Found),
        }
    }

    /// The key to seal a new token with: the one in the keyring when it answers (made
    /// on first use), else the key file's (made on first use).
    pub fn lookup_or_create(&self) -> Result<(Key, KeyKind), KeyError> {
        match self.ask_keyring() {
            KeyringAnswer::Key(key) => return Ok((key, KeyKind::Keyring)),
            KeyringAnswer::NoKey => {
                let key = new_key();
                if self.put_in_keyring(&key) {
                    return Ok((key, KeyKind::Keyring));
                }
            }
            KeyringAnswer::Unreachable => {}
        }
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

    /// Where a new key would be kept now.
    pub fn location(&self) -> KeyLocation {
        match self.ask_keyring() {
            KeyringAnswer::Unreachable => KeyLocation::File(self.file.clone()),
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
            Err(e) => {
                self.note_fallback(&e);
                KeyringAnswer::Unreachable
            }
        }
    }

    fn put_in_keyring(&self, key: &Key) -> bool {
        let encoded = Zeroizing::new(STANDARD.encode(key.as_ref()));
        match self.entry().and_then(|e| e.set_password(&encoded)) {
            Ok(()) => true,
            Err(e) => {
                self.note_fallback(&e);
                false
            }
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

fn decode_key(encoded: &[u8]) -> Option<Key> {
    let bytes = Zeroizing::new(STANDARD.decode(encoded.trim_ascii()).ok()?);
    let array: [u8; 32] = bytes.as_slice().try_into().ok()?;
    Some(Zeroizing::new(array))
}
