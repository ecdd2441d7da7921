//! One replacement segment written as `<base>.log.swap` / `<base>.index.swap` (step 1
//! of the swap protocol in `swap.rs`), always in the current batch format, streamed to disk as batches arrive: at most
//! [`FLUSH_BYTES`] (or one batch, if larger) of data is held in memory, whatever the
//! segment's size. Only the sparse index stays in memory until the segment is finished
//! (one entry per `index_interval_bytes`, so bounded by `segment_bytes`).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use super::batch::{self, BatchFormat};
use super::checkpoint::SealedEntry;
use super::error::{LogIdent, MaintenanceError};
use super::fsutil;
use super::index::{self, IndexBuilder};
use super::segment::{self, FILE_HEADER_LEN};

/// Data buffered before it is written out.
const FLUSH_BYTES: usize = 1 << 20;

/// Paths of the `.swap` data and index files of the segment at `base`.
pub(crate) fn swap_paths(dir: &Path, base: u64) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{}.swap", fsutil::segment_file_name(base))),
        dir.join(format!("{}.swap", fsutil::index_file_name(base))),
    )
}

/// Removes the `.swap` files of the segment at `base` (a replacement abandoned before
/// its intent was stored). Best effort: opening the log removes any left behind.
pub(crate) fn remove_swap_files(dir: &Path, base: u64) {
    let (log, index) = swap_paths(dir, base);
    for path in [log, index] {
        if let Err(error) = fsutil::remove_if_exists(&path) {
            tracing::warn!(path = %path.display(), %error, "could not remove an abandoned swap file; removed on next open");
        }
    }
}

/// A replacement segment being written.
pub(crate) struct SwapOutput {
    ident: LogIdent,
    base: u64,
    log_path: PathBuf,
    index_path: PathBuf,
    file: File,
    /// Bytes already written to the file.
    written: u64,
    /// Bytes not yet written, which follow `written`.
    pending: Vec<u8>,
    index: IndexBuilder,
}

impl SwapOutput {
    /// Creates `<base>.log.swap` in `dir`, starting with the segment file header.
    pub(crate) fn create(
        dir: &Path,
        ident: &LogIdent,
        base: u64,
        index_interval: u32,
    ) -> Result<SwapOutput, MaintenanceError> {
        let (log_path, index_path) = swap_paths(dir, base);
        let file = fsutil::create_truncated(&log_path)
            .map_err(|e| MaintenanceError::io(ident.clone(), log_path.clone(), e))?;
        let mut pending = Vec::with_capacity(FLUSH_BYTES);
        pending.extend_from_slice(&segment::file_header(BatchFormat::CURRENT, base));
        Ok(SwapOutput {
            ident: ident.clone(),
            base,
            log_path,
            index_path,
            file,
            written: 0,
            pending,
            index: IndexBuilder::new(base, index_interval, FILE_HEADER_LEN as u64),
        })
    }

    /// The segment's base offset.
    pub(crate) fn base(&self) -> u64 {
        self.base
    }

    /// The segment's length so far, header included.
    pub(crate) fn len(&self) -> u64 {
        self.written + self.pending.len() as u64
    }

    /// Whether no batch was added yet.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == FILE_HEADER_LEN as u64
    }

    /// Appends a sealed batch of the current format (its header is trusted: it was
    /// checked or just encoded).
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Result<(), MaintenanceError> {
        let header = batch::trusted_header(BatchFormat::CURRENT, bytes);
        self.index.observe(self.len(), &header);
        if self.pending.len() + bytes.len() > FLUSH_BYTES {
            self.flush()?;
        }
        if bytes.len() >= FLUSH_BYTES {
            // Too large to be worth copying: written straight from the caller's bytes.
            self.write_at_end(bytes)
        } else {
            self.pending.extend_from_slice(bytes);
            Ok(())
        }
    }

    /// Writes what is buffered, syncs the data file, then writes and syncs the index;
    /// returns the checkpoint entry of the segment, which ends at `next_offset`.
    pub(crate) fn finish(&mut self, next_offset: u64) -> Result<SealedEntry, MaintenanceError> {
        self.flush()?;
        fsutil::sync_data(&self.file, &self.log_path).map_err(self.io_error(&self.log_path))?;
        let index_bytes = index::encode(self.base, &self.index.entries);
        fsutil::write_synced(&self.index_path, &index_bytes)
            .map_err(self.io_error(&self.index_path))?;
        Ok(SealedEntry {
            base_offset: self.base,
            next_offset,
            data_len: self.written,
            max_timestamp: self.index.max_timestamp(),
            index_crc: crc32fast::hash(&index_bytes),
            index_entries: self.index.entries.len() as u32,
        })
    }

    fn flush(&mut self) -> Result<(), MaintenanceError> {
        let pending = std::mem::take(&mut self.pending);
        let outcome = self.write_at_end(&pending);
        self.pending = pending;
        self.pending.clear();
        outcome
    }

    fn write_at_end(&mut self, bytes: &[u8]) -> Result<(), MaintenanceError> {
        fsutil::write_all_at(&self.file, &self.log_path, bytes, self.written)
            .map_err(self.io_error(&self.log_path))?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn io_error(&self, path: &Path) -> impl FnOnce(io::Error) -> MaintenanceError + use<> {
        let (ident, path) = (self.ident.clone(), path.to_path_buf());
        move |source| MaintenanceError::io(ident, path, source)
    }
}
