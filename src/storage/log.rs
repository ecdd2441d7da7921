//! The partition log: appends with group commit, reads bounded by the high watermark.

use std::path::Path;

use super::api_types::{AppendInfo, DeletedSegments, LogStats, ReadLimits, ReadOutcome};
use super::config::LogConfig;
use super::error::{AppendError, LogIdent, MaintenanceError, OpenError, ReadError};
use super::record::Record;

/// One partition of a topic: a directory of segments. `Log` is `Send + Sync`:
/// any number of threads may append and read concurrently.
pub struct Log {
    ident: LogIdent,
}

impl Log {
    /// Opens (creating if needed) the log stored in `dir`, recovering after a crash.
    pub fn open(dir: &Path, ident: LogIdent, config: LogConfig) -> Result<Log, OpenError> {
        let _ = (dir, config);
        let _ = &ident;
        todo!()
    }

    /// Which topic/partition this log stores.
    pub fn ident(&self) -> &LogIdent {
        &self.ident
    }

    /// Appends `records` as one batch; returns once they are durable under the policy.
    pub fn append(&self, records: &[Record]) -> Result<AppendInfo, AppendError> {
        let _ = records;
        todo!()
    }

    /// Appends only if the log's next offset equals `expected_next_offset`, else fails
    /// with [`AppendError::OffsetMismatch`]. Of racing appends with one expectation,
    /// exactly one wins.
    pub fn append_expecting(
        &self,
        records: &[Record],
        expected_next_offset: u64,
    ) -> Result<AppendInfo, AppendError> {
        let _ = (records, expected_next_offset);
        todo!()
    }

    /// Reads records from `offset` within `limits`. Reading at the high watermark
    /// returns no records; below the log start or above the high watermark fails
    /// with [`ReadError::OutOfRange`].
    pub fn read(&self, offset: u64, limits: ReadLimits) -> Result<ReadOutcome, ReadError> {
        let _ = (offset, limits);
        todo!()
    }

    /// The first offset whose record has a timestamp ≥ `timestamp_ms`, or `None` if
    /// no durable record does.
    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<u64>, ReadError> {
        let _ = timestamp_ms;
        todo!()
    }

    /// First readable offset.
    pub fn log_start_offset(&self) -> u64 {
        todo!()
    }

    /// One past the last durable offset: the next offset to be assigned once all
    /// appends in flight are acknowledged.
    pub fn high_watermark(&self) -> u64 {
        todo!()
    }

    /// Segment count, bytes and offsets.
    pub fn stats(&self) -> LogStats {
        todo!()
    }

    /// Forces everything appended so far to disk (for `interval`/`never` and shutdown).
    pub fn sync(&self) -> Result<(), AppendError> {
        todo!()
    }

    /// Seals the active segment now (no-op when it is empty).
    pub fn roll(&self) -> Result<(), AppendError> {
        todo!()
    }

    /// Periodic housekeeping: rolls the active segment when it is older than
    /// `segment_max_age` and syncs when the `interval` policy is due. Call it every
    /// few hundred milliseconds.
    pub fn tick(&self) -> Result<(), AppendError> {
        todo!()
    }

    /// Deletes whole sealed segments whose records all lie below `offset` (retention).
    pub fn delete_segments_below(&self, offset: u64) -> Result<DeletedSegments, MaintenanceError> {
        let _ = offset;
        todo!()
    }

    /// Removes every record at or above `offset`.
    pub fn truncate_to(&self, offset: u64) -> Result<(), MaintenanceError> {
        let _ = offset;
        todo!()
    }

    /// Makes everything durable and releases the files. Dropping a `Log` without
    /// calling `close` is safe; the next open then scans the active segment.
    pub fn close(self) -> Result<(), AppendError> {
        todo!()
    }
}
