//! One writer at a time per home. The CLI and the desktop app may sign in at the same
//! moment: unserialized, two first saves each make a key and the loser's token no
//! longer opens (each signs the other out). The lock is advisory (`flock` on Unix,
//! `LockFileEx` on Windows) on `auth-token.lock`, a file that is never removed, and the
//! OS releases it when its holder exits, even by a crash.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// The lock file's name inside the home directory.
pub const LOCK_FILE: &str = "auth-token.lock";

/// Held while a writer changes the token or its key; released when dropped.
pub struct WriterLock {
    _file: File,
}

impl WriterLock {
    /// Waits until no other writer (thread or process) holds the lock of `home`.
    pub fn acquire(home: &Path) -> io::Result<WriterLock> {
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(home.join(LOCK_FILE))?;
        fs4::FileExt::lock(&file)?;
        Ok(WriterLock { _file: file })
    }
}
