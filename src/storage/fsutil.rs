//! File-system helpers with the durability steps spelled out: renames are commit
//! points only once the file *and* its directory are synced.
//!
//! Every `fdatasync`/`fsync` of the storage engine goes through [`sync_data`] and
//! [`sync_dir`], and every data write that can meet a full disk through
//! [`write_all_at`] or the helpers below. Tests hook into these few functions: the
//! power-loss simulator (`power_loss.rs`) learns what is durable, and the fault
//! injector (`fault.rs`) makes a chosen write fail with `ENOSPC`, and `sync_watch.rs`
//! counts (or holds) the syncs of chosen files.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// A write point that tests can make fail (see `fault.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritePoint {
    /// Writing bytes into a file (`pwrite`, `write`).
    Write,
    /// Extending a file with `ftruncate` (sparse growth).
    Extend,
    /// Creating a new file.
    Create,
    /// Renaming a file or directory (the path is the source).
    Rename,
}

/// Test-only: fails if a fault is armed for `path` at `point`.
#[inline]
fn fail_point(path: &Path, point: WritePoint) -> io::Result<()> {
    #[cfg(test)]
    super::fault::check(path, point)?;
    let _ = (path, point);
    Ok(())
}

/// `fdatasync` of `file`, which lives at `path`: its data and the metadata needed to
/// read it (its size) are durable once this returns `Ok`.
pub fn sync_data(file: &File, path: &Path) -> io::Result<()> {
    #[cfg(test)]
    super::sync_watch::observe(path);
    #[cfg(test)]
    let capture = super::power_loss::capture_file(file, path);
    file.sync_data()?;
    #[cfg(test)]
    super::power_loss::file_synced(capture);
    let _ = path;
    Ok(())
}

/// `fsync` of `file`, which lives at `path`: its data and all its metadata.
pub fn sync_all(file: &File, path: &Path) -> io::Result<()> {
    #[cfg(test)]
    super::sync_watch::observe(path);
    #[cfg(test)]
    let capture = super::power_loss::capture_file(file, path);
    file.sync_all()?;
    #[cfg(test)]
    super::power_loss::file_synced(capture);
    let _ = path;
    Ok(())
}

/// Syncs a directory so that creations, renames and unlinks inside it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(test)]
    let capture = super::power_loss::capture_dir(dir);
    File::open(dir)?.sync_all()?;
    #[cfg(test)]
    super::power_loss::dir_synced(capture);
    Ok(())
}

/// `rename(2)` of `from` to `to`; durable only once the parents are synced.
pub fn rename(from: &Path, to: &Path) -> io::Result<()> {
    fail_point(from, WritePoint::Rename)?;
    std::fs::rename(from, to)
}

/// Creates `dir` and any missing ancestors, syncing the parent of each directory it
/// creates, so the new directory cannot vanish with the files later synced into it.
pub fn create_dir_durable(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir_durable(parent)?;
    }
    fail_point(dir, WritePoint::Create)?;
    match std::fs::create_dir(dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    sync_dir(
        dir.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
    )
}

/// `pwrite` of all of `buf` at `pos` in `file` (at `path`). A full disk fails with
/// `ENOSPC`, possibly after part of `buf` was written.
pub fn write_all_at(file: &File, path: &Path, buf: &[u8], pos: u64) -> io::Result<()> {
    if let Err(e) = fail_point(path, WritePoint::Write) {
        // Like a real full disk: part of the bytes may land before the error.
        file.write_all_at(&buf[..buf.len() / 2], pos)?;
        return Err(e);
    }
    file.write_all_at(buf, pos)
}

/// Sets `file`'s length (at `path`). Extending is sparse and allocates nothing, but a
/// quota or size limit can still refuse it.
pub fn set_len(file: &File, path: &Path, len: u64) -> io::Result<()> {
    fail_point(path, WritePoint::Extend)?;
    file.set_len(len)
}

/// Whether `error` means the file system is full or the quota is used up (`ENOSPC`,
/// `EDQUOT`): the operation can succeed once space returns.
pub fn is_no_space(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

/// Why [`replace_atomic`] failed: before the rename nothing changed; after it the new
/// file is in place but maybe not durable.
#[derive(Debug)]
pub enum AtomicWriteError {
    /// Writing or syncing the temporary file failed; the old file is untouched.
    BeforeRename(io::Error),
    /// The rename happened but syncing the directory failed: the file holds the new
    /// contents, which may or may not survive a power loss.
    AfterRename(io::Error),
}

impl From<AtomicWriteError> for io::Error {
    fn from(e: AtomicWriteError) -> io::Error {
        match e {
            AtomicWriteError::BeforeRename(e) | AtomicWriteError::AfterRename(e) => e,
        }
    }
}

/// Writes `bytes` to `path` atomically: write a temporary sibling, sync it, rename it
/// over `path`, sync the directory. A crash leaves either the old or the new file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    Ok(replace_atomic(path, bytes)?)
}

/// [`write_atomic`], telling whether a failure happened before or after the rename.
pub fn replace_atomic(path: &Path, bytes: &[u8]) -> Result<(), AtomicWriteError> {
    let tmp = path.with_extension("tmp");
    write_synced(&tmp, bytes).map_err(AtomicWriteError::BeforeRename)?;
    std::fs::rename(&tmp, path).map_err(AtomicWriteError::BeforeRename)?;
    sync_dir(path.parent().unwrap_or(Path::new("."))).map_err(AtomicWriteError::AfterRename)
}

/// Writes `bytes` to a new file at `path` (replacing any) and syncs it, without renaming.
pub fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    fail_point(path, WritePoint::Create)?;
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(path)?;
    if let Err(e) = fail_point(path, WritePoint::Write) {
        file.write_all(&bytes[..bytes.len() / 2])?;
        return Err(e);
    }
    file.write_all(bytes)?;
    sync_data(&file, path)
}

/// Creates (or empties) the file at `path` for writing, to be filled piece by piece with
/// [`write_all_at`] and synced with [`sync_data`] (files too large to hold in memory).
pub fn create_truncated(path: &Path) -> io::Result<File> {
    fail_point(path, WritePoint::Create)?;
    OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(path)
}

/// Removes a file; a file that is already gone is not an error (idempotent recovery).
pub fn remove_if_exists(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// File name of a segment's data: the 20-digit zero-padded base offset.
pub fn segment_file_name(base_offset: u64) -> String {
    format!("{base_offset:020}.log")
}

/// File name of a segment's sparse index.
pub fn index_file_name(base_offset: u64) -> String {
    format!("{base_offset:020}.index")
}

/// Parses `<20 digits>.<ext>` into a base offset.
pub fn parse_file_name(name: &str, ext: &str) -> Option<u64> {
    let stem = name.strip_suffix(ext)?.strip_suffix('.')?;
    (stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit())).then(|| stem.parse().ok())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip() {
        assert_eq!(segment_file_name(42), "00000000000000000042.log");
        assert_eq!(parse_file_name("00000000000000000042.log", "log"), Some(42));
        assert_eq!(parse_file_name("00000000000000000042.index", "log"), None);
        assert_eq!(parse_file_name("42.log", "log"), None);
        assert_eq!(parse_file_name("0000000000000000004x.log", "log"), None);
    }
}
