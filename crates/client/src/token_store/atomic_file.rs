//! Private files written so that a crash never leaves a half-written one behind: the
//! bytes go to a temporary file beside the target (a name of its own for each write),
//! are flushed to disk, and replace the target in one rename, itself made durable by
//! syncing the directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rand::Rng;

/// Creates `dir` (and its parents) if needed and makes it private to the user (0700).
pub fn private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Replaces `path` with `bytes` atomically; the file is readable by its owner only.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    stage(path, bytes)?.commit()
}

/// Removes `path` (a missing file is fine) and makes the removal durable.
pub fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => sync_dir(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// A complete, flushed temporary file waiting to replace its target.
pub struct Staged {
    temp: PathBuf,
    target: PathBuf,
}

/// Writes `bytes` to a new temporary file beside `path` and flushes it.
pub fn stage(path: &Path, bytes: &[u8]) -> io::Result<Staged> {
    let temp = temp_path(path, &format!("{:016x}", rand::thread_rng().gen::<u64>()));
    let result = write_new(&temp, bytes);
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.map(|()| Staged { temp, target: path.to_owned() })
}

impl Staged {
    pub fn commit(self) -> io::Result<()> {
        if let Err(e) = fs::rename(&self.temp, &self.target) {
            let _ = fs::remove_file(&self.temp);
            return Err(e);
        }
        sync_dir(&self.target)
    }
}

fn write_new(temp: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(temp)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// `.NAME.SUFFIX.tmp` beside `path`: hidden, and never mistaken for the target.
fn temp_path(path: &Path, suffix: &str) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{suffix}.tmp"))
}

/// Removes the temporary files of earlier writes to `path` that never finished. Only
/// for a caller that excludes every other writer of `path` (the token store's writer
/// lock): otherwise it would remove a running write's file.
pub fn remove_leftovers(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else { return };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        if file_name.starts_with(&prefix) && file_name.ends_with(".tmp") {
            let _ = fs::remove_file(entry.path());
        }
    }
}

fn sync_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write(&path, b"one").unwrap();
        write(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f")]);
    }

    #[test]
    fn staged_writes_never_committed_are_removed_as_leftovers_and_nowhere_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write(&path, b"old").unwrap();
        let abandoned = stage(&path, b"new").unwrap();
        assert!(abandoned.temp.exists());
        assert_eq!(fs::read(&path).unwrap(), b"old");
        let other = stage(&path, b"other").unwrap();
        assert!(abandoned.temp.exists(), "a write removed another write's temporary file");
        other.commit().unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"other");
        let also_abandoned = stage(&path, b"also").unwrap();
        remove_leftovers(&path);
        assert!(
            !abandoned.temp.exists() && !also_abandoned.temp.exists(),
            "the leftover temporary files were not removed"
        );
        write(&path, b"newer").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"newer");
    }
}
