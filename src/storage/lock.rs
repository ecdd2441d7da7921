//! An exclusive advisory lock on a data directory, so two processes never write the
//! same files. The lock is an OS file lock (`flock`) on `<dir>/LOCK`: it is released
//! when the holder exits, even by `kill -9`, so a stale lock never needs cleaning up.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use super::error::{LogIdent, OpenError};

/// Holds the lock on a data directory until dropped.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    path: PathBuf,
}

impl DirLock {
    /// Name of the lock file inside the data directory.
    pub const FILE_NAME: &'static str = "LOCK";

    /// Creates `dir` if needed and takes its lock without waiting.
    /// Fails with [`OpenError::Locked`] if another process holds it.
    pub fn acquire(dir: &Path) -> Result<DirLock, OpenError> {
        let path = dir.join(Self::FILE_NAME);
        let io_err = |source| OpenError::io(LogIdent::default(), path.clone(), source);
        super::fsutil::create_dir_durable(dir).map_err(io_err)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io_err)?;
        match file.try_lock() {
            Ok(()) => Ok(DirLock { _file: file, path }),
            Err(std::fs::TryLockError::WouldBlock) => Err(OpenError::Locked { path }),
            Err(std::fs::TryLockError::Error(source)) => Err(io_err(source)),
        }
    }

    /// Path of the lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        assert!(matches!(
            DirLock::acquire(dir.path()),
            Err(OpenError::Locked { .. })
        ));
        drop(first);
        DirLock::acquire(dir.path()).unwrap();
    }
}
