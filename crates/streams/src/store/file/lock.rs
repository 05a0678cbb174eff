//! The data directory's lock.

use std::fs::File;
use std::os::unix::io::AsRawFd;
use std::path::Path;

use super::OpenError;

/// One process per data directory: a second would interleave frames in the same log.
pub(super) fn lock_dir(dir: &Path) -> Result<File, OpenError> {
    let path = dir.join("LOCK");
    let file = super::log::private_file()
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|source| OpenError::Dir { path: path.clone(), source })?;
    // SAFETY: flock on a file descriptor we own; no memory is involved.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(OpenError::Locked(dir.to_owned()));
    }
    Ok(file)
}
