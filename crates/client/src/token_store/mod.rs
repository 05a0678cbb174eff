//! The session token at rest: `$SUPERSET_HOME/auth-token.enc`, sealed with AES-256-GCM
//! under a random key kept in the OS keyring (see [`key`] for the fallback).
//!
//! A missing file means signed out. So does a file that is damaged, tampered with, or
//! whose key is gone: the store then logs one warning, removes the useless file and
//! answers "signed out"; it never panics over what it finds on disk. The stored
//! `expiresAt` only informs the UI: the server's 401 decides, so a skewed clock signs
//! nobody out.
//!
//! Writers (a save, a sign-out) take the home's writer lock ([`writer_lock`]), so the
//! CLI and the desktop app can sign in at the same moment; readers need no lock, as
//! every file is replaced in one rename.

pub mod atomic_file;
pub mod key;
mod sealed;
pub mod writer_lock;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

pub use key::{KeyLocation, KEYRING_SERVICE};
use key::{KeyLookup, KeyStore};
use sealed::KeyKind;
use writer_lock::WriterLock;

/// The file name of the sealed token inside the home directory.
pub const TOKEN_FILE: &str = "auth-token.enc";

/// A session token and when the server said it expires. The token is wiped from memory
/// when this is dropped, and never printed by `Debug`.
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredToken {
    token: Zeroizing<String>,
    #[serde(rename = "expiresAt")]
    pub expires_at: Option<DateTime<Utc>>,
}

impl StoredToken {
    pub fn new(token: impl Into<String>, expires_at: Option<DateTime<Utc>>) -> Self {
        StoredToken { token: Zeroizing::new(token.into()), expires_at }
    }

    /// The secret itself, for an `Authorization: Bearer` header.
    pub fn secret(&self) -> &str {
        &self.token
    }
}

impl std::fmt::Debug for StoredToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredToken").field("token", &"<redacted>").field("expires_at", &self.expires_at).finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenStoreError {
    #[error(transparent)]
    NoHome(#[from] crate::home::NoHomeError),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Key(#[from] key::KeyError),
}

/// Why the stored token could not be used; each is logged once, not on every read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Problem {
    Unreadable,
    Damaged,
    KeyLost,
    KeyUnreachable,
}

/// The token store of one home directory.
pub struct TokenStore {
    home: PathBuf,
    keys: KeyStore,
    last_problem: Mutex<Option<Problem>>,
}

impl TokenStore {
    pub fn new(home: impl Into<PathBuf>) -> Self {
        let home = home.into();
        let keys = KeyStore::new(&home);
        TokenStore { home, keys, last_problem: Mutex::new(None) }
    }

    /// The store in `$SUPERSET_HOME` (default `~/.superset`).
    pub fn from_env() -> Result<Self, TokenStoreError> {
        Ok(Self::new(crate::home::superset_home()?))
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    pub fn path(&self) -> PathBuf {
        self.home.join(TOKEN_FILE)
    }

    /// Where the key is (or would be) kept right now.
    pub fn key_location(&self) -> KeyLocation {
        self.keys.location()
    }

    /// The stored token, or `None` when signed out (including every way the file or
    /// its key can be unusable).
    pub fn load(&self) -> Option<StoredToken> {
        match self.try_load() {
            Ok(token) => {
                *self.last_problem.lock().unwrap_or_else(|e| e.into_inner()) = None;
                token
            }
            Err(problem) => {
                self.report(problem);
                None
            }
        }
    }

    /// Seals `token` and replaces the stored one atomically.
    pub fn save(&self, token: &StoredToken) -> Result<(), TokenStoreError> {
        let (staged, kind, _lock) = self.stage(token)?;
        let path = self.path();
        staged.commit().map_err(|source| TokenStoreError::Write { path, source })?;
        if kind == KeyKind::Keyring {
            self.keys.remove_stale_file();
        }
        Ok(())
    }

    /// The first half of [`save`](Self::save), under the writer lock it returns: the
    /// sealed token, flushed to a temporary file, not yet in place.
    fn stage(&self, token: &StoredToken) -> Result<(atomic_file::Staged, KeyKind, WriterLock), TokenStoreError> {
        let lock = self.lock()?;
        let (key, kind) = self.keys.lookup_or_create()?;
        let plaintext = Zeroizing::new(serde_json::to_vec(token).expect("a token serializes"));
        let staged = atomic_file::stage(&self.path(), &sealed::seal(&key, kind, &plaintext))
            .map_err(|source| TokenStoreError::Write { path: self.home.clone(), source })?;
        Ok((staged, kind, lock))
    }

    /// Signs out locally: removes the token file (a missing one is fine).
    pub fn clear(&self) -> Result<(), TokenStoreError> {
        let _lock = self.lock()?;
        let path = self.path();
        atomic_file::remove(&path).map_err(|source| TokenStoreError::Write { path, source })
    }

    /// Waits for the home's writer lock, then removes what writers that died holding it
    /// left behind: with the lock held, no other write is running.
    fn lock(&self) -> Result<WriterLock, TokenStoreError> {
        let write_error = |source| TokenStoreError::Write { path: self.home.clone(), source };
        atomic_file::private_dir(&self.home).map_err(write_error)?;
        let lock = WriterLock::acquire(&self.home).map_err(write_error)?;
        atomic_file::remove_leftovers(&self.path());
        self.keys.remove_leftovers();
        Ok(lock)
    }

    fn try_load(&self) -> Result<Option<StoredToken>, Problem> {
        let path = self.path();
        let sealed = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(_) => return Err(Problem::Unreadable),
        };
        let Ok(kind) = sealed::key_kind(&sealed) else {
            return Err(self.discard(Problem::Damaged));
        };
        let key = match self.keys.lookup(kind) {
            KeyLookup::Found(key) => key,
            KeyLookup::Missing => return Err(self.discard(Problem::KeyLost)),
            KeyLookup::Unreachable => return Err(Problem::KeyUnreachable),
        };
        let plaintext = sealed::open(&key, &sealed).map_err(|_| self.discard(Problem::Damaged))?;
        serde_json::from_slice(&plaintext).map(Some).map_err(|_| self.discard(Problem::Damaged))
    }

    /// Removes a token file that can never be opened, so the next read is simply
    /// "signed out" instead of the same warning again.
    fn discard(&self, problem: Problem) -> Problem {
        let _ = atomic_file::remove(&self.path());
        problem
    }

    fn report(&self, problem: Problem) {
        let mut last = self.last_problem.lock().unwrap_or_else(|e| e.into_inner());
        if *last == Some(problem) {
            return;
        }
        *last = Some(problem);
        let path = self.path();
        let path = path.display();
        match problem {
            Problem::Unreadable => tracing::warn!(%path, "cannot read the token file; signed out"),
            Problem::Damaged => {
                tracing::warn!(%path, "the token file is damaged or was tampered with; removed it, signed out")
            }
            Problem::KeyLost => {
                tracing::warn!(%path, "the token key is gone, so the token cannot be decrypted; removed it, signed out")
            }
            Problem::KeyUnreachable => {
                tracing::warn!(%path, "the OS keyring holding the token key is unreachable; signed out until it is back")
            }
        }
    }
}

/// The token in `$SUPERSET_HOME`, or `None` when signed out.
pub fn load_token() -> Option<StoredToken> {
    TokenStore::from_env().ok()?.load()
}

pub fn save_token(token: &StoredToken) -> Result<(), TokenStoreError> {
    TokenStore::from_env()?.save(token)
}

pub fn clear_token() -> Result<(), TokenStoreError> {
    TokenStore::from_env()?.clear()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names the home of the child process that crashes mid-save.
    const CRASH_HOME: &str = "SUPERSET_TEST_CRASH_HOME";

    /// The child half of the crash test below: stages a new token exactly as `save`
    /// does, then dies before the rename. Does nothing when run on its own.
    #[test]
    #[ignore = "run as a child process by crash_between_temp_write_and_rename_keeps_the_old_token"]
    fn stage_then_abort() {
        let Some(home) = std::env::var_os(CRASH_HOME) else { return };
        let store = TokenStore::new(home);
        let _staged = store.stage(&StoredToken::new("new-token", None)).expect("stage");
        std::process::abort();
    }

    #[test]
    fn crash_between_temp_write_and_rename_keeps_the_old_token() {
        let home = tempfile::tempdir().unwrap();
        let store = TokenStore::new(home.path());
        store.save(&StoredToken::new("old-token", None)).unwrap();

        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "token_store::tests::stage_then_abort", "--ignored", "--nocapture"])
            .env(CRASH_HOME, home.path())
            .output()
            .unwrap();
        assert!(!child.status.success(), "the child should have aborted: {child:?}");
        let leftovers: Vec<_> = std::fs::read_dir(home.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert_eq!(leftovers.len(), 1, "the crashed save should have left its temporary file: {child:?}");

        assert_eq!(store.load().expect("still signed in").secret(), "old-token");
        store.save(&StoredToken::new("newer-token", None)).unwrap();
        assert_eq!(store.load().unwrap().secret(), "newer-token");
        let tmp_left =
            std::fs::read_dir(home.path()).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".tmp"));
        assert!(!tmp_left, "the next save should sweep the crashed save's temporary file");
    }
}
