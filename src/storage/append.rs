//! Appending: encode outside the lock, write under it, then make the batch durable
//! per the fsync policy. Under `always`, concurrent appenders share one `fdatasync`
//! (group commit): the first to find no sync running becomes the leader, syncs
//! everything written so far, publishes it and wakes the others.

use std::io;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::{Instant, SystemTime};

use super::api_types::AppendInfo;
use super::batch::{self, BatchFormat};
use super::checkpoint::{self, SealedEntry};
use super::client_batch::CheckedBatch;
use super::config::FsyncPolicy;
use super::error::AppendError;
use super::fsutil::{self, AtomicWriteError, is_no_space};
use super::index::{self, IndexBuilder};
use super::log::{Log, Writer};
use super::mmap::SegmentMap;
use super::producer_state::{ProducerBatch, SequenceVerdict, SequencedBatch};
use super::producers;
use super::record::Record;
use super::recovery;
use super::segment::{self, FILE_HEADER_LEN, Segment};
use super::segment_age;
use super::sync_timing;

impl Log {
    /// Appends `records` as one batch; returns once they are durable under the policy.
    /// On error nothing of the batch becomes visible.
    pub fn append(&self, records: &[Record]) -> Result<AppendInfo, AppendError> {
        self.append_inner(records, None, None)
    }

    /// Appends `records` as one batch of an idempotent producer (in batch format 2,
    /// which carries the producer's id, epoch and sequence), unless the producer state
    /// says otherwise: a retry of one of the producer's last batches returns that
    /// batch's original offsets with [`AppendInfo::duplicate`] set, once they are
    /// durable, and writes nothing; a sequence that does not continue the producer's,
    /// or an epoch older than the newest seen, is refused with
    /// [`AppendError::Sequence`]. The check comes before `expected_next_offset`'s.
    pub fn append_idempotent(
        &self,
        records: &[Record],
        producer: ProducerBatch,
        expected_next_offset: Option<u64>,
    ) -> Result<AppendInfo, AppendError> {
        self.append_inner(records, expected_next_offset, Some(producer))
    }

    /// Appends only if the log's next offset equals `expected_next_offset`, else fails
    /// with [`AppendError::OffsetMismatch`]. Of racing appends with one expectation,
    /// exactly one wins.
    pub fn append_expecting(
        &self,
        records: &[Record],
        expected_next_offset: u64,
    ) -> Result<AppendInfo, AppendError> {
        self.append_inner(records, Some(expected_next_offset), None)
    }

    fn append_inner(
        &self,
        records: &[Record],
        expected: Option<u64>,
        producer: Option<ProducerBatch>,
    ) -> Result<AppendInfo, AppendError> {
        if records.is_empty() {
            return Err(AppendError::EmptyBatch);
        }
        let config = self.config();
        // Only version 2 batches carry a producer.
        let format = match producer {
            Some(_) => BatchFormat::V2,
            None => config.batch_format,
        };
        let mut buf = Vec::with_capacity(
            records.iter().map(Record::encoded_len).sum::<usize>() + format.header_len(),
        );
        let numbered = records.iter().enumerate().map(|(i, r)| (i as u32, r));
        let encoded = match producer {
            Some(p) => {
                let meta = batch::v2::BatchMeta {
                    producer_id: p.producer_id,
                    producer_epoch: p.epoch,
                    base_sequence: p.base_sequence,
                    ..batch::v2::BatchMeta::default()
                };
                batch::v2::encode(&mut buf, numbered, &meta)
            }
            None => batch::encode(format, &mut buf, numbered),
        };
        encoded.map_err(|e| AppendError::InvalidRecord {
            index: e.index,
            reason: e.reason,
        })?;
        if buf.len() > config.max_batch_bytes as usize {
            return Err(AppendError::BatchTooLarge {
                size: buf.len() as u64,
                max: config.max_batch_bytes,
            });
        }
        let max_timestamp = records
            .iter()
            .map(|r| r.timestamp_ms)
            .max()
            .unwrap_or(i64::MIN);
        let batch = Encoded {
            format,
            count: records.len() as u32,
            max_timestamp,
        };
        self.append_encoded(&mut buf, batch, expected, producer)
    }

    /// Appends a producer-built batch that passed
    /// [`check_client_batch`](super::client_batch::check_client_batch), as sent: only
    /// its base offset and leader term are stamped (outside its CRC). Idempotent when
    /// its header names a producer, as [`Log::append_idempotent`].
    pub fn append_client_batch(
        &self,
        batch: &mut [u8],
        checked: &CheckedBatch,
        expected_next_offset: Option<u64>,
    ) -> Result<AppendInfo, AppendError> {
        let config = self.config();
        if batch.len() > config.max_batch_bytes as usize {
            return Err(AppendError::BatchTooLarge {
                size: batch.len() as u64,
                max: config.max_batch_bytes,
            });
        }
        // A single node writes term 0, as its own appends do.
        batch::v2::stamp_leader_epoch(batch, 0);
        let encoded = Encoded {
            format: BatchFormat::V2,
            count: checked.header.record_count,
            max_timestamp: checked.header.max_timestamp,
        };
        self.append_encoded(batch, encoded, expected_next_offset, checked.producer())
    }

    /// Writes an encoded, unsealed batch under the writer lock (after the producer and
    /// expected-offset checks) and waits until it is durable under the policy.
    fn append_encoded(
        &self,
        buf: &mut [u8],
        batch: Encoded,
        expected: Option<u64>,
        producer: Option<ProducerBatch>,
    ) -> Result<AppendInfo, AppendError> {
        let config = self.config();
        let Encoded {
            format,
            count,
            max_timestamp,
        } = batch;
        let (base_offset, next, truncations) = {
            let mut w = self.lock_writer();
            self.check_writable(&w)?;
            if let Some(p) = &producer
                && let Some(done) = self.check_sequence(&mut w, p, count, &config)?
            {
                let truncations = self.truncations.load(Ordering::Acquire);
                drop(w);
                // Acknowledged only once the original is durable, like the original.
                self.make_durable(config.fsync, done.last_offset + 1, truncations)?;
                return Ok(AppendInfo {
                    base_offset: done.base_offset,
                    last_offset: done.last_offset,
                    max_timestamp_ms: max_timestamp,
                    duplicate: true,
                });
            }
            if let Some(expected) = expected.filter(|e| *e != w.next_offset) {
                return Err(AppendError::OffsetMismatch {
                    expected,
                    actual: w.next_offset,
                });
            }
            if w.active.is_sealed() || w.format != format || self.roll_due(&w, buf.len() as u64) {
                self.roll_locked(&mut w)?;
            }
            let (base, next) = self.write_locked(&mut w, buf, max_timestamp, config.fsync)?;
            if let Some(p) = &producer {
                w.producers
                    .record(p, count, base, next - 1, producers::now_ms());
            }
            (base, next, self.truncations.load(Ordering::Acquire))
        };
        self.make_durable(config.fsync, next, truncations)?;
        Ok(AppendInfo {
            base_offset,
            last_offset: next - 1,
            max_timestamp_ms: max_timestamp,
            duplicate: false,
        })
    }
}

/// What [`Log::append_encoded`] needs to know of an encoded batch.
struct Encoded {
    format: BatchFormat,
    count: u32,
    max_timestamp: i64,
}

impl Log {
    /// The producer state's verdict on a batch: `Some` with the original batch for a
    /// duplicate, `None` to append, or the refusal.
    pub(super) fn check_sequence(
        &self,
        w: &mut Writer,
        producer: &ProducerBatch,
        count: u32,
        config: &super::config::LogConfig,
    ) -> Result<Option<SequencedBatch>, AppendError> {
        let verdict = w
            .producers
            .check(producer, count, producers::now_ms(), config.producer_limits)
            .map_err(|source| AppendError::Sequence {
                log: self.ident.clone(),
                source,
            })?;
        Ok(match verdict {
            SequenceVerdict::Append => None,
            SequenceVerdict::Duplicate(done) => Some(done),
        })
    }

    /// Makes the log read-only for `reason` (the first reason stays) and returns the
    /// error that says so: after a failed sync no "retry" can succeed.
    fn poison_with(&self, reason: String) -> AppendError {
        let _ = self.poison.set(reason);
        AppendError::Poisoned {
            log: self.ident.clone(),
            reason: self.poison.get().cloned().unwrap_or_default(),
        }
    }

    pub(super) fn check_writable(&self, w: &Writer) -> Result<(), AppendError> {
        if let Some(reason) = self.poison.get() {
            return Err(AppendError::Poisoned {
                log: self.ident.clone(),
                reason: reason.clone(),
            });
        }
        if w.closed {
            return Err(AppendError::Closed {
                log: self.ident.clone(),
            });
        }
        Ok(())
    }

    pub(super) fn roll_due(&self, w: &Writer, batch_len: u64) -> bool {
        let config = self.config.read().expect("config lock");
        let non_empty = w.write_pos > FILE_HEADER_LEN as u64;
        let aged = config
            .segment_max_age
            .zip(w.first_append)
            .is_some_and(|(age, start)| segment_age::is_older_than(start, age));
        non_empty
            && (w.write_pos >= config.segment_bytes || w.write_pos + batch_len > w.capacity || aged)
    }

    /// Writes a sealed batch at the end of the active segment; returns its base offset
    /// and the next offset. Under `never`/`interval` the batch is published at once.
    pub(super) fn write_locked(
        &self,
        w: &mut Writer,
        buf: &mut [u8],
        max_ts: i64,
        fsync: FsyncPolicy,
    ) -> Result<(u64, u64), AppendError> {
        let needed = w.write_pos + buf.len() as u64;
        if needed > w.capacity {
            let max = (w.capacity - FILE_HEADER_LEN as u64).min(u64::from(u32::MAX)) as u32;
            return Err(AppendError::BatchTooLarge {
                size: buf.len() as u64,
                max,
            });
        }
        if needed > w.file_len {
            self.grow(w, needed)?;
        }
        let base_offset = w.next_offset;
        let Some(header) = batch::seal_checked(w.format, buf, base_offset) else {
            return Err(AppendError::OffsetsExhausted {
                log: self.ident.clone(),
                next_offset: base_offset,
            });
        };
        if let Err(source) = fsutil::write_all_at(&w.file, &w.active.path, buf, w.write_pos) {
            return Err(self.write_error(&w.active.path, source));
        }
        if let Some(entry) = w.index.observe(w.write_pos, &header) {
            w.active.push_index(entry);
        }
        w.write_pos += buf.len() as u64;
        w.next_offset = header.next_offset();
        w.first_append.get_or_insert_with(SystemTime::now);
        w.active.set_next_offset(w.next_offset);
        w.active.observe_timestamp(max_ts);
        // The same policy decides here and in `make_durable`, so a batch is either
        // published now or synced and published by the group commit.
        if fsync != FsyncPolicy::Always {
            self.publish(&w.active, w.write_pos, w.next_offset);
        }
        self.zero_ahead(w, fsync);
        Ok((base_offset, w.next_offset))
    }

    /// Extends the active file by a step (sparse) and maps the larger file. Readers
    /// keep using the smaller map they hold; the file never shrinks below it.
    fn grow(&self, w: &mut Writer, needed: u64) -> Result<(), AppendError> {
        let new_len = (needed + segment::GROW_STEP).min(w.capacity);
        let map = fsutil::set_len(&w.file, &w.active.path, new_len)
            .and_then(|()| SegmentMap::map(&w.file, new_len))
            .map_err(|source| self.write_error(&w.active.path, source))?;
        w.active.replace_map(map);
        w.file_len = new_len;
        Ok(())
    }

    /// Maps a failed write of `path`: a full disk or an exhausted quota becomes
    /// [`AppendError::NoSpace`], anything else [`AppendError::Io`].
    fn write_error(&self, path: &Path, source: io::Error) -> AppendError {
        if is_no_space(&source) {
            // Nothing was published; the next append overwrites any partial bytes.
            return AppendError::NoSpace {
                log: self.ident.clone(),
                path: path.to_path_buf(),
            };
        }
        AppendError::io(self.ident.clone(), path.to_path_buf(), source)
    }

    /// Makes `end`/`next` visible to readers. Never moves backwards.
    pub(crate) fn publish(&self, segment: &Segment, end: u64, next: u64) {
        segment.publish_end(end);
        self.high_watermark.fetch_max(next, Ordering::AcqRel);
    }

    /// `truncations` is the log's truncation count when the batch was written.
    pub(super) fn make_durable(
        &self,
        policy: FsyncPolicy,
        next: u64,
        truncations: u64,
    ) -> Result<(), AppendError> {
        match policy {
            FsyncPolicy::Always => self.wait_durable(next, truncations),
            FsyncPolicy::Interval(every) => {
                let due = self.lock_commit().last_sync.elapsed() >= every;
                if due {
                    self.wait_durable(next, truncations)
                } else {
                    Ok(())
                }
            }
            FsyncPolicy::Never => Ok(()),
        }
    }

    /// Blocks until everything below `target` is covered by an `fdatasync`, running
    /// it ourselves if no other thread is (group commit). `truncations` is the log's
    /// truncation count when `target` was read: once a truncation happened, what was
    /// written before it was durable (truncation waits for that), so the wait is over.
    pub(crate) fn wait_durable(&self, target: u64, truncations: u64) -> Result<(), AppendError> {
        let mut state = self.lock_commit();
        loop {
            if let Some(reason) = self.poison.get() {
                return Err(AppendError::Poisoned {
                    log: self.ident.clone(),
                    reason: reason.clone(),
                });
            }
            if self.durable.load(Ordering::Acquire) >= target
                || self.truncations.load(Ordering::Acquire) != truncations
            {
                return Ok(());
            }
            if state.syncing {
                state = self
                    .commit_done
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            state.syncing = true;
            drop(state);
            let result = self.sync_written();
            state = self.lock_commit();
            state.syncing = false;
            if result.is_ok() {
                state.last_sync = Instant::now();
            }
            self.commit_done.notify_all();
        }
    }

    /// `fdatasync`, or an injected failure in tests.
    fn fdatasync(&self, file: &std::fs::File, path: &std::path::Path) -> io::Result<()> {
        #[cfg(test)]
        if let Some(hook) = self
            .before_sync
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            hook();
        }
        #[cfg(test)]
        if self.fail_next_sync.swap(false, Ordering::AcqRel) {
            return Err(io::Error::other("injected fdatasync failure"));
        }
        sync_timing::fdatasync(file, path)
    }

    /// The leader's work: one `fdatasync` for everything written so far.
    fn sync_written(&self) -> Result<(), ()> {
        let (file, active, end, next, truncations) = {
            let w = self.lock_writer();
            let truncations = self.truncations.load(Ordering::Acquire);
            (
                w.file.clone(),
                w.active.clone(),
                w.write_pos,
                w.next_offset,
                truncations,
            )
        };
        match self.fdatasync(&file, &active.path) {
            Ok(()) => {
                // A truncation during the sync cut what the snapshot describes and set
                // the high watermark and durable offset itself: publishing the snapshot
                // would raise them above the cut, and later appends below it would be
                // acknowledged unsynced. Checked under the writer lock, which every
                // truncation holds, so none slips in between.
                let _writer = self.lock_writer();
                if self.truncations.load(Ordering::Acquire) == truncations {
                    self.publish(&active, end, next);
                    self.durable.fetch_max(next, Ordering::AcqRel);
                }
                Ok(())
            }
            Err(error) => {
                tracing::error!(log = %self.ident, %error, "fdatasync failed: the log is now read-only");
                let _ = self.poison.set(format!(
                    "fdatasync of {} failed: {error}",
                    active.path.display()
                ));
                Err(())
            }
        }
    }

    /// Forces everything appended so far to disk (for `interval`/`never` and shutdown).
    pub fn sync(&self) -> Result<(), AppendError> {
        let (next, truncations) = {
            let w = self.lock_writer();
            (w.next_offset, self.truncations.load(Ordering::Acquire))
        };
        self.wait_durable(next, truncations)
    }

    /// Seals the active segment now (no-op when it is empty).
    pub fn roll(&self) -> Result<(), AppendError> {
        let mut w = self.lock_writer();
        self.check_writable(&w)?;
        if w.write_pos > FILE_HEADER_LEN as u64 {
            self.roll_locked(&mut w)
        } else {
            Ok(())
        }
    }

    /// Periodic housekeeping: rolls the active segment when it is older than
    /// `segment_max_age` and syncs when the `interval` policy is due. Call it every
    /// few hundred milliseconds.
    pub fn tick(&self) -> Result<(), AppendError> {
        let config = self.config();
        {
            let mut w = self.lock_writer();
            if w.closed || self.poison.get().is_some() {
                return Ok(());
            }
            if self.roll_due(&w, 0) {
                self.roll_locked(&mut w)?;
            }
        }
        if let FsyncPolicy::Interval(every) = config.fsync {
            let due = self.lock_commit().last_sync.elapsed() >= every;
            if due && self.durable.load(Ordering::Acquire) < self.high_watermark() {
                self.sync()?;
            }
        }
        Ok(())
    }

    /// Seals the active segment and starts a new one at the next offset. The sealed
    /// data is synced and trimmed, its index written, and the checkpoint — the commit
    /// point — stored before the new segment exists.
    pub(crate) fn roll_locked(&self, w: &mut Writer) -> Result<(), AppendError> {
        if !w.active.is_sealed() {
            self.seal_active(w)?;
        }
        // If creating the next segment fails (a full disk), the writer keeps the sealed
        // segment and retries here on the next append: it never writes into it again.
        self.start_segment(w, w.next_offset)?;
        self.snapshot_producers(w);
        Ok(())
    }

    /// Carries index checksums of indexes rebuilt since open into the checkpoint, so a
    /// rebuilt index is trusted after the next restart instead of rebuilt again.
    fn refresh_index_checksums(&self, checkpoint: &mut super::checkpoint::Checkpoint) {
        let segments = self.segment_list();
        for entry in &mut checkpoint.sealed {
            let found = segments.binary_search_by_key(&entry.base_offset, |s| s.base_offset);
            if let Some(meta) = found.ok().and_then(|i| segments[i].sealed_entry()) {
                entry.index_crc = meta.index_crc;
                entry.index_entries = meta.index_entries;
            }
        }
    }

    fn seal_active(&self, w: &mut Writer) -> Result<(), AppendError> {
        let sealed = w.active.clone();
        let synced = w
            .file
            .set_len(w.write_pos)
            .and_then(|()| sync_timing::fdatasync(&w.file, &sealed.path));
        if let Err(error) = synced {
            // After a failed sync nobody knows what reached the disk, whatever the cause
            // (even ENOSPC): the log is read-only from now on, so the caller is told that
            // rather than a "no space, retry" that could never succeed.
            return Err(
                self.poison_with(format!("sealing {} failed: {error}", sealed.path.display()))
            );
        }
        let index_bytes = index::encode(sealed.base_offset, &w.index.entries);
        let entry = SealedEntry {
            base_offset: sealed.base_offset,
            next_offset: w.next_offset,
            data_len: w.write_pos,
            max_timestamp: w.index.max_timestamp(),
            index_crc: crc32fast::hash(&index_bytes),
            index_entries: w.index.entries.len() as u32,
        };
        let mut checkpoint = w.checkpoint.clone();
        self.refresh_index_checksums(&mut checkpoint);
        checkpoint.sealed.push(entry);
        let index_path = sealed.index_path();
        let committed = fsutil::write_synced(&index_path, &index_bytes)
            .map_err(|e| (index_path, AtomicWriteError::BeforeRename(e)))
            .and_then(|()| {
                checkpoint
                    .store_checked(&self.dir)
                    .map_err(|e| (self.dir.join(checkpoint::FILE_NAME), e))
            });
        if let Err((path, error)) = committed {
            // Not sealed after all: give the segment its room back and stay on it.
            let _ = w.file.set_len(w.file_len);
            return Err(match error {
                AtomicWriteError::BeforeRename(error) => self.write_error(&path, error),
                // The new checkpoint is in place but maybe not durable: like a failed
                // fsync, the log can no longer tell what is on disk.
                AtomicWriteError::AfterRename(error) => self.poison_with(format!(
                    "syncing the directory after storing {} failed: {error}",
                    path.display()
                )),
            });
        }
        w.checkpoint = checkpoint;
        sealed.mark_sealed(entry);
        self.publish(&sealed, w.write_pos, w.next_offset);
        self.durable.fetch_max(w.next_offset, Ordering::AcqRel);
        Ok(())
    }

    /// Creates and installs a fresh active segment at `base`.
    pub(crate) fn start_segment(&self, w: &mut Writer, base: u64) -> Result<(), AppendError> {
        let config = self.config();
        let capacity = recovery::capacity(&config);
        let file_len = capacity.min(segment::GROW_STEP);
        let new_path = self.dir.join(fsutil::segment_file_name(base));
        let (path, file) = segment::create_file(&self.dir, config.batch_format, base, file_len)
            .map_err(|source| self.write_error(&new_path, source))?;
        let map = SegmentMap::map(&file, file_len)
            .map_err(|source| AppendError::io(self.ident.clone(), path.clone(), source))?;
        let active = Arc::new(Segment::loaded(
            base,
            path,
            map,
            Vec::new(),
            &config.open_segments,
        ));
        active.publish_end(FILE_HEADER_LEN as u64);
        self.push_segment(active.clone());
        w.active = active;
        w.file = Arc::new(file);
        w.capacity = capacity;
        w.file_len = file_len;
        w.write_pos = FILE_HEADER_LEN as u64;
        w.zeroed_to = w.write_pos;
        w.next_offset = base;
        w.index = IndexBuilder::new(base, config.index_interval_bytes, FILE_HEADER_LEN as u64);
        w.first_append = None;
        w.format = config.batch_format;
        Ok(())
    }

    fn push_segment(&self, segment: Arc<Segment>) {
        let mut list = self.segments.write().expect("segments lock");
        let mut next = Vec::clone(&list);
        next.push(segment);
        *list = Arc::new(next);
    }

    /// Makes everything durable, trims the active segment's preallocated space and
    /// stores a clean-shutdown marker, so the next open need not scan the active segment. Later appends fail with
    /// [`AppendError::Closed`]; reads keep working.
    pub fn close(&self) -> Result<(), AppendError> {
        if self.poison.get().is_none() {
            self.sync()?;
        }
        let mut w = self.lock_writer();
        if !w.closed {
            w.closed = true;
            // Trimming above the committed end is safe under any reader (see `mmap`).
            let trimmed = w
                .file
                .set_len(w.write_pos)
                .and_then(|()| sync_timing::fdatasync(&w.file, &w.active.path));
            if trimmed.is_ok() && self.poison.get().is_none() {
                self.store_clean_shutdown(&w);
                self.snapshot_producers(&mut w);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use crate::storage::{AppendError, Log, LogConfig, LogIdent, ReadLimits, Record};

    fn record(value: &str) -> Record {
        Record::text(value)
    }

    #[test]
    fn a_failed_fsync_poisons_the_log_but_durable_data_stays_readable() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig::small();
        let log = Log::open(dir.path(), LogIdent::new("t", 0), config.clone()).unwrap();
        log.append(&[record("durable")]).unwrap();
        log.fail_next_sync.store(true, Ordering::Release);
        let failed = log.append(&[record("never acknowledged")]);
        assert!(
            matches!(failed, Err(AppendError::Poisoned { .. })),
            "{failed:?}"
        );
        // The unsynced batch is not visible; the durable one is.
        assert_eq!(log.high_watermark(), 1);
        let read = log.read(0, ReadLimits::default()).unwrap();
        assert_eq!(read.records.len(), 1);
        assert_eq!(read.records[0].value.as_deref(), Some(&b"durable"[..]));
        // Later appends fail with the cause until the log is reopened.
        match log.append(&[record("later")]) {
            Err(AppendError::Poisoned { reason, .. }) => {
                assert!(reason.contains("injected"), "{reason}")
            }
            other => panic!("expected poisoned, got {other:?}"),
        }
        assert!(log.poisoned().is_some());
        drop(log);
        let log = Log::open(dir.path(), LogIdent::new("t", 0), config).unwrap();
        assert!(log.poisoned().is_none());
        let next = log.append(&[record("after reopen")]).unwrap();
        assert!(
            next.base_offset >= 1,
            "appends resume after the durable records"
        );
        assert_eq!(
            log.read(0, ReadLimits::default()).unwrap().records[0]
                .value
                .as_deref(),
            Some(&b"durable"[..])
        );
    }
}
