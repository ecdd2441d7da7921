//! Reading segment files with `pread` instead of through a memory map, for the code
//! that reads whole files in the background or offline (the scrub, `verify`, `dump`).
//!
//! A disk read error on a mapped page is delivered as SIGBUS and kills the process;
//! the same error through `pread` is an ordinary `EIO` that the caller reports,
//! naming the file and position, before going on with the next file. Tests make these
//! reads fail through the read faults of `fault.rs`.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Bytes read per `pread` when walking a file batch by batch.
const CHUNK: usize = 1 << 20;

/// A failed read: which file, at which byte, and the OS error.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {path} at byte {position}: {source}")]
pub struct FileReadError {
    /// The file.
    pub path: PathBuf,
    /// Where the failed read started.
    pub position: u64,
    /// The OS error (`EIO` for a bad sector).
    #[source]
    pub source: io::Error,
}

/// `pread` of exactly `buf.len()` bytes at `position` of `file`, which lives at `path`.
pub fn read_exact_at(
    file: &File,
    path: &Path,
    buf: &mut [u8],
    position: u64,
) -> Result<(), FileReadError> {
    #[cfg(test)]
    let injected = super::fault::check_read(path);
    #[cfg(not(test))]
    let injected = Ok(());
    injected
        .and_then(|()| file.read_exact_at(buf, position))
        .map_err(|source| FileReadError {
            path: path.to_path_buf(),
            position,
            source,
        })
}

/// Reads the first `len` bytes of `file` into memory.
pub fn read_prefix(file: &File, path: &Path, len: u64) -> Result<Vec<u8>, FileReadError> {
    let too_large = || FileReadError {
        path: path.to_path_buf(),
        position: 0,
        source: io::Error::other("file larger than the address space"),
    };
    let mut buf = vec![0u8; usize::try_from(len).map_err(|_| too_large())?];
    read_exact_at(file, path, &mut buf, 0)?;
    Ok(buf)
}

/// Opens the file at `path` and reads it whole.
pub fn read_file(path: &Path) -> Result<Vec<u8>, FileReadError> {
    let at_start = |source| FileReadError {
        path: path.to_path_buf(),
        position: 0,
        source,
    };
    let file = File::open(path).map_err(at_start)?;
    let len = file.metadata().map_err(at_start)?.len();
    read_prefix(&file, path, len)
}

/// A sliding window over the first `end` bytes of a file: serves the bytes at a
/// position with one `pread` per chunk, so walking a file batch by batch needs neither
/// a map nor the whole file in memory.
pub struct Window<'a> {
    file: &'a File,
    path: &'a Path,
    end: u64,
    start: u64,
    buf: Vec<u8>,
}

impl<'a> Window<'a> {
    /// A window over bytes `[0, end)` of `file`, which lives at `path`.
    pub fn new(file: &'a File, path: &'a Path, end: u64) -> Window<'a> {
        Window {
            file,
            path,
            end,
            start: 0,
            buf: Vec::new(),
        }
    }

    /// The bytes from `position` on: at least `want` of them, fewer only where the
    /// window's end comes first.
    pub fn at(&mut self, position: u64, want: usize) -> Result<&[u8], FileReadError> {
        let held_end = self.start + self.buf.len() as u64;
        let want_end = self.end.min(position.saturating_add(want as u64));
        if position < self.start || want_end > held_end {
            let len = (self.end.saturating_sub(position)).min(CHUNK.max(want) as u64);
            self.buf.resize(len as usize, 0);
            read_exact_at(self.file, self.path, &mut self.buf, position)?;
            self.start = position;
        }
        let from = ((position - self.start) as usize).min(self.buf.len());
        Ok(&self.buf[from..])
    }
}
