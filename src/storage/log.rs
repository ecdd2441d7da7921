//! The partition log: the shared state behind appends, reads and maintenance.
//!
//! Concurrency: one `Mutex<Writer>` serialises appends and segment changes; readers
//! never take it. They load the high watermark (acquire), clone the current segment
//! list (an `Arc` swap) and read committed bytes straight from the maps. Appends are
//! in `append.rs` (with group commit), maintenance in `maintenance.rs`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError, RwLock};
use std::time::{Instant, SystemTime};

use super::api_types::{LogStats, ReadLimits, ReadOutcome, SegmentInfo};
use super::batch::BatchFormat;
use super::checkpoint::Checkpoint;
use super::config::LogConfig;
use super::error::{ConfigError, LogIdent, OpenError, ReadError};
use super::index::IndexBuilder;
use super::producer_state::{ProducerLimits, ProducerStateTable};
use super::read::{Progress, ReadCursor};
use super::recovery::{self, RecoveryReport};
use super::segment::Segment;

/// The writer's state: the active segment and where the next batch goes.
pub(crate) struct Writer {
    pub active: Arc<Segment>,
    pub file: Arc<File>,
    /// Largest size the active file may reach (the roll point plus one batch).
    pub capacity: u64,
    /// Current length of the active file (and of its map); grows in steps.
    pub file_len: u64,
    pub write_pos: u64,
    /// The active file holds written zeros (or data) up to here, past `write_pos`
    /// under a syncing policy (see `zero_ahead`).
    pub zeroed_to: u64,
    pub next_offset: u64,
    pub index: IndexBuilder,
    /// When the segment's age started (see `segment_age`); `None` while it is empty.
    pub first_append: Option<SystemTime>,
    pub checkpoint: Checkpoint,
    pub closed: bool,
    /// The active segment's batch format: an append into a version 1 segment rolls it
    /// first, since a segment never mixes formats.
    pub format: BatchFormat,
    /// The idempotent producers seen, checked and updated with every producer batch.
    pub producers: ProducerStateTable,
}

/// Group-commit state: whether some thread is running `fdatasync` for everyone.
pub(crate) struct CommitState {
    pub syncing: bool,
    pub last_sync: Instant,
}

/// One partition of a topic: a directory of segments. `Log` is `Send + Sync`:
/// any number of threads may append and read concurrently.
pub struct Log {
    pub(crate) ident: LogIdent,
    pub(crate) dir: PathBuf,
    pub(crate) config: RwLock<LogConfig>,
    pub(crate) segments: RwLock<Arc<Vec<Arc<Segment>>>>,
    pub(crate) writer: Mutex<Writer>,
    pub(crate) commit: Mutex<CommitState>,
    pub(crate) commit_done: Condvar,
    /// One past the last offset visible to readers.
    pub(crate) high_watermark: AtomicU64,
    /// One past the last offset covered by an `fdatasync`.
    pub(crate) durable: AtomicU64,
    pub(crate) log_start: AtomicU64,
    /// How many truncations replaced the log's tail; changed only under the writer
    /// lock. A group-commit leader publishes what it synced only if no truncation
    /// happened since its snapshot, and a waiter whose batch was written before one
    /// is done (truncation first makes everything written durable).
    pub(crate) truncations: AtomicU64,
    pub(crate) poison: OnceLock<String>,
    /// Test-only fault injection: the next `fdatasync` of the append path fails.
    #[cfg(test)]
    pub(crate) fail_next_sync: std::sync::atomic::AtomicBool,
    /// Test-only hook run (once) by the next `fdatasync` of the append path, before it.
    #[cfg(test)]
    pub(crate) before_sync: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    report: RecoveryReport,
}

impl Log {
    /// Opens (creating if needed) the log stored in `dir`, recovering after a crash:
    /// sealed segments are trusted from the checkpoint, the active one is scanned and
    /// cut at a torn tail. Does not lock the directory: see [`super::DirLock`].
    pub fn open(dir: &Path, ident: LogIdent, config: LogConfig) -> Result<Log, OpenError> {
        config.validate()?;
        let rec = recovery::recover(dir, &ident, &config)?;
        let active = rec
            .segments
            .last()
            .expect("recovery yields an active segment")
            .clone();
        let log_start = rec
            .checkpoint
            .log_start_offset
            .max(rec.segments[0].base_offset);
        let writer = Writer {
            active,
            file: Arc::new(rec.active_file),
            capacity: rec.capacity,
            file_len: rec.file_len,
            write_pos: rec.write_pos,
            zeroed_to: rec.write_pos,
            next_offset: rec.next_offset,
            index: rec.index,
            first_append: rec.age_start,
            checkpoint: rec.checkpoint,
            closed: false,
            format: rec.format,
            producers: super::producers::rebuild(dir, &rec.segments, rec.next_offset),
        };
        tracing::debug!(log = %ident, next_offset = rec.next_offset, segments = rec.segments.len(), "log opened");
        Ok(Log {
            dir: dir.to_path_buf(),
            config: RwLock::new(config),
            segments: RwLock::new(Arc::new(rec.segments)),
            writer: Mutex::new(writer),
            commit: Mutex::new(CommitState {
                syncing: false,
                last_sync: Instant::now(),
            }),
            commit_done: Condvar::new(),
            high_watermark: AtomicU64::new(rec.next_offset),
            durable: AtomicU64::new(rec.next_offset),
            log_start: AtomicU64::new(log_start),
            truncations: AtomicU64::new(0),
            poison: OnceLock::new(),
            #[cfg(test)]
            fail_next_sync: std::sync::atomic::AtomicBool::new(false),
            #[cfg(test)]
            before_sync: Mutex::new(None),
            report: rec.report,
            ident,
        })
    }

    /// Which topic/partition this log stores.
    pub fn ident(&self) -> &LogIdent {
        &self.ident
    }

    /// The directory holding the log's files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The current configuration.
    pub fn config(&self) -> LogConfig {
        self.config.read().expect("config lock").clone()
    }

    /// Changes the configuration at runtime. Segment size, age and index interval
    /// apply from the next roll or append; the fsync policy from the next append.
    pub fn update_config(&self, mut config: LogConfig) -> Result<(), ConfigError> {
        config.validate()?;
        let mut current = self.config.write().expect("config lock");
        config.open_segments = current.open_segments.clone();
        config.producer_limits = current.producer_limits;
        *current = config;
        Ok(())
    }

    /// Sets the limits on idempotent producers (a setting of the whole server, which a
    /// topic's [`Log::update_config`] keeps).
    pub fn set_producer_limits(&self, limits: ProducerLimits) {
        self.config.write().expect("config lock").producer_limits = limits;
    }

    /// Each segment's bounds, size and newest timestamp, oldest first (the active
    /// segment last). Retention decides from these which segments to delete.
    pub fn segment_infos(&self) -> Vec<SegmentInfo> {
        self.segment_list()
            .iter()
            .map(|s| SegmentInfo {
                base_offset: s.base_offset,
                next_offset: s.next_offset(),
                size_bytes: s.size_bytes(),
                max_timestamp_ms: s.max_timestamp(),
                sealed: s.is_sealed(),
            })
            .collect()
    }

    /// What recovery found when the log was opened.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }

    /// First readable offset.
    pub fn log_start_offset(&self) -> u64 {
        self.log_start.load(Ordering::Acquire)
    }

    /// One past the last offset readers can see: every record below it is durable
    /// under the fsync policy.
    pub fn high_watermark(&self) -> u64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    /// The error that poisoned the log, if an fsync failed.
    pub fn poisoned(&self) -> Option<&str> {
        self.poison.get().map(String::as_str)
    }

    /// The writer lock. A panic while it was held (a defect) must not make every later
    /// call panic in turn, taking the ticker and cleaner threads down with it: the log
    /// becomes read-only instead, as after a failed fsync, and the guard is handed out
    /// so reads, `tick` and `close` go on.
    pub(crate) fn lock_writer(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|poisoned| {
            let _ = self
                .poison
                .set("an earlier operation on this log failed with a panic".into());
            poisoned.into_inner()
        })
    }

    /// The group-commit state: a flag and a time, consistent whatever panicked.
    pub(crate) fn lock_commit(&self) -> MutexGuard<'_, CommitState> {
        self.commit.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn segment_list(&self) -> Arc<Vec<Arc<Segment>>> {
        self.segments.read().expect("segments lock").clone()
    }

    /// Reads records from `offset` within `limits`. Reading at the high watermark
    /// returns no records; below the log start or above the high watermark fails
    /// with [`ReadError::OutOfRange`]. Every batch's CRC is checked before any of its
    /// records is returned.
    pub fn read(&self, offset: u64, limits: ReadLimits) -> Result<ReadOutcome, ReadError> {
        self.retrying(|hwm, segments| self.read_in(hwm, segments, offset, limits))
    }

    /// Runs a read on the current segment list, and again on a fresh one when it failed
    /// to open a segment that left the log meanwhile (see [`Segment::retire`]). Segments
    /// are retired under the writer lock, so taking that lock once waits until the new
    /// list is installed. The high watermark is loaded before the list, so every
    /// record below it lies in a listed segment.
    pub(super) fn retrying<T>(
        &self,
        mut read: impl FnMut(u64, &[Arc<Segment>]) -> Result<T, ReadError>,
    ) -> Result<T, ReadError> {
        let mut attempts = 0;
        loop {
            let high_watermark = self.high_watermark();
            let segments = self.segment_list();
            match read(high_watermark, &segments) {
                Err(ReadError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound
                        && attempts < 3
                        && segments.iter().any(|s| s.is_retired()) =>
                {
                    attempts += 1;
                    drop(self.lock_writer());
                }
                other => return other,
            }
        }
    }

    pub(super) fn read_in(
        &self,
        high_watermark: u64,
        segments: &[Arc<Segment>],
        offset: u64,
        limits: ReadLimits,
    ) -> Result<ReadOutcome, ReadError> {
        let log_start = self.log_start_offset();
        if offset < log_start || offset > high_watermark {
            return Err(ReadError::OutOfRange {
                offset,
                log_start,
                high_watermark,
            });
        }
        let limits = ReadLimits {
            max_records: limits.max_records.max(1),
            ..limits
        };
        let mut cursor = ReadCursor {
            ident: &self.ident,
            from: offset,
            high_watermark,
            limits,
            out: Vec::new(),
            bytes: 0,
        };
        let first = segments
            .partition_point(|s| s.base_offset <= offset)
            .saturating_sub(1);
        for segment in &segments[first..] {
            if segment.base_offset >= high_watermark {
                break;
            }
            match cursor.read_segment(segment) {
                Ok(Progress::Full) => break,
                Ok(Progress::Exhausted) => {}
                // Retention deleted the segment before this reader first mapped it.
                Err(ReadError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound
                        && offset < self.log_start_offset() =>
                {
                    let log_start = self.log_start_offset();
                    return Err(ReadError::OutOfRange {
                        offset,
                        log_start,
                        high_watermark: self.high_watermark(),
                    });
                }
                Err(error) => return Err(error),
            }
        }
        let next_offset = cursor.out.last().map_or(high_watermark, |r| r.offset + 1);
        Ok(ReadOutcome {
            records: cursor.out,
            next_offset,
            high_watermark,
            log_start_offset: log_start,
        })
    }

    /// The first offset whose record has a timestamp ≥ `timestamp_ms`, or `None` if
    /// no record below the high watermark does. Segments are skipped by their largest
    /// timestamp; inside one, the index narrows the scan to one interval.
    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<u64>, ReadError> {
        self.retrying(|hwm, segments| self.offset_for_timestamp_in(hwm, segments, timestamp_ms))
    }

    fn offset_for_timestamp_in(
        &self,
        high_watermark: u64,
        segments: &[Arc<Segment>],
        timestamp_ms: i64,
    ) -> Result<Option<u64>, ReadError> {
        let log_start = self.log_start_offset();
        for segment in segments
            .iter()
            .filter(|s| s.max_timestamp() >= timestamp_ms)
        {
            if segment.base_offset >= high_watermark {
                break;
            }
            if let Some(offset) = self.find_time_in(segment, timestamp_ms, high_watermark)? {
                return Ok(Some(offset.max(log_start)));
            }
        }
        Ok(None)
    }

    fn find_time_in(
        &self,
        segment: &Segment,
        ts: i64,
        high_watermark: u64,
    ) -> Result<Option<u64>, ReadError> {
        let io = |source| ReadError::io(self.ident.clone(), segment.path.clone(), source);
        let entries = segment.index().map_err(io)?;
        let start_offset = entries
            .entry_for_timestamp(ts)
            .map_or(segment.base_offset, |e| {
                segment.base_offset + u64::from(e.rel_offset)
            });
        let mut from = start_offset.max(self.log_start_offset());
        loop {
            let limits = ReadLimits {
                max_records: 1024,
                max_bytes: 1 << 20,
            };
            let mut cursor = ReadCursor {
                ident: &self.ident,
                from,
                high_watermark,
                limits,
                out: Vec::new(),
                bytes: 0,
            };
            let progress = cursor.read_segment(segment)?;
            if let Some(hit) = cursor.out.iter().find(|r| r.timestamp_ms >= ts) {
                return Ok(Some(hit.offset));
            }
            match (progress, cursor.out.last()) {
                (Progress::Full, Some(last)) => from = last.offset + 1,
                _ => return Ok(None),
            }
        }
    }

    /// Segment count, bytes and offsets.
    pub fn stats(&self) -> LogStats {
        let segments = self.segment_list();
        LogStats {
            log_start_offset: self.log_start_offset(),
            high_watermark: self.high_watermark(),
            segment_count: segments.len(),
            size_bytes: segments.iter().map(|s| s.size_bytes()).sum(),
        }
    }
}
