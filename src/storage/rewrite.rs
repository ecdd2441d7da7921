//! Rewriting sealed segments (the hook key compaction uses): keep a subset of the
//! records, with their offsets, timestamps, keys, values and headers unchanged, and
//! merge the results into as few segments as `segment_bytes` allows. The new segments
//! are streamed to their `.swap` files as they are produced (`swap_output.rs`), so
//! memory does not grow with the data kept; the swap commits through a roll-forward
//! intent (see `swap.rs`).
//!
//! Replacement segments are written in the current batch format (version 2): a
//! version 1 batch is re-encoded, a version 2 batch with every record kept is copied
//! as it is. A version 2 batch that loses every record keeps its header, with no
//! records, so batch boundaries, leader terms and producer state survive compaction;
//! a version 1 batch that loses every record is dropped (it has no such state).
//!
//! A rewrite can be cancelled between batches: it then removes the `.swap` files it
//! wrote and leaves the log exactly as it was.

use std::sync::Arc;

use super::batch::{self, BatchFormat, BatchHeader, RecordView};
use super::checkpoint::SealedEntry;
use super::error::MaintenanceError;
use super::log::Log;
use super::segment::{self, FILE_HEADER_LEN, Segment};
use super::swap::Intent;
use super::swap_output::{SwapOutput, remove_swap_files};

/// What a rewrite did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RewriteStats {
    /// Sealed segments before.
    pub segments_before: usize,
    /// Sealed segments after.
    pub segments_after: usize,
    /// Data bytes of those segments before.
    pub bytes_before: u64,
    /// Data bytes after.
    pub bytes_after: u64,
    /// Records dropped.
    pub records_removed: u64,
}

/// Asked between batches whether a long maintenance run should stop.
pub type Cancel<'a> = &'a dyn Fn() -> bool;

impl Log {
    /// Rewrites every sealed segment, keeping the records for which
    /// `keep(offset, record)` is true. Crash-safe: the log is either as before or as
    /// after. Readers inside the replaced segments finish on the old files.
    pub fn rewrite_sealed(
        &self,
        keep: impl FnMut(u64, &RecordView<'_>) -> bool,
    ) -> Result<RewriteStats, MaintenanceError> {
        self.rewrite_sealed_cancellable(keep, &|| false)
    }

    /// [`Log::rewrite_sealed`], stopping with [`MaintenanceError::Cancelled`] once
    /// `cancel` returns true (asked before each batch and before the commit): the
    /// `.swap` files written so far are removed and the log is left exactly as it was.
    pub fn rewrite_sealed_cancellable(
        &self,
        keep: impl FnMut(u64, &RecordView<'_>) -> bool,
        cancel: Cancel<'_>,
    ) -> Result<RewriteStats, MaintenanceError> {
        self.rewrite_sealed_below(u64::MAX, keep, cancel)
    }

    /// The sealed segments, oldest first, up to the last one that ends at or below
    /// `limit`: always a prefix of the log's segments.
    pub(crate) fn sealed_below(&self, limit: u64) -> Vec<Arc<Segment>> {
        self.segment_list()
            .iter()
            .take_while(|s| s.is_sealed() && s.next_offset() <= limit)
            .cloned()
            .collect()
    }

    /// [`Log::rewrite_sealed_cancellable`] of the sealed segments that end at or below
    /// `limit` only.
    pub(crate) fn rewrite_sealed_below(
        &self,
        limit: u64,
        mut keep: impl FnMut(u64, &RecordView<'_>) -> bool,
        cancel: Cancel<'_>,
    ) -> Result<RewriteStats, MaintenanceError> {
        let segments = self.sealed_below(limit);
        let Some(last) = segments.last() else {
            return Ok(RewriteStats::default());
        };
        let mut stats = RewriteStats {
            segments_before: segments.len(),
            ..Default::default()
        };
        let mut outputs = Outputs::start(self, segments[0].base_offset)?;
        let written = self
            .copy_kept(&segments, &mut outputs, &mut keep, cancel, &mut stats)
            // The last output covers up to where the sealed range ends, gaps included.
            .and_then(|()| outputs.finish(last.next_offset()))
            .and_then(|entries| self.unless_cancelled(cancel).map(|()| entries));
        let new_entries = match written {
            Ok(entries) => entries,
            Err(err) => {
                outputs.abandon();
                return Err(err);
            }
        };
        stats.segments_after = new_entries.len();
        stats.bytes_after = new_entries.iter().map(|e| e.data_len).sum();
        self.commit_rewrite(&segments, new_entries)?;
        Ok(stats)
    }

    /// [`MaintenanceError::Cancelled`] if `cancel` says so.
    pub(crate) fn unless_cancelled(&self, cancel: Cancel<'_>) -> Result<(), MaintenanceError> {
        if cancel() {
            return Err(MaintenanceError::Cancelled {
                log: self.ident.clone(),
            });
        }
        Ok(())
    }

    /// Streams the kept records of `segments` into `outputs`, batch by batch.
    fn copy_kept(
        &self,
        segments: &[Arc<Segment>],
        outputs: &mut Outputs<'_>,
        keep: &mut impl FnMut(u64, &RecordView<'_>) -> bool,
        cancel: Cancel<'_>,
        stats: &mut RewriteStats,
    ) -> Result<(), MaintenanceError> {
        for seg in segments {
            // A reader holding this segment after the swap keeps the map it has; one
            // that must load it again is sent to the new segments (`Segment::retire`).
            let (map, end) = seg.data().map_err(self.io_error(&seg.path))?;
            seg.index().map_err(self.io_error(&seg.path))?;
            stats.bytes_before += end as u64;
            let data = map.committed(end);
            let format = segment::format_of(data);
            let mut pos = FILE_HEADER_LEN;
            while pos < data.len() {
                self.unless_cancelled(cancel)?;
                let invalid = |fault: batch::BatchFault| MaintenanceError::Invalid {
                    log: self.ident.clone(),
                    reason: format!(
                        "{} position {pos}: {fault}; run verify before compacting",
                        seg.path.display()
                    ),
                };
                let header = segment::check_batch(format, &data[pos..]).map_err(invalid)?;
                let raw = &data[pos..pos + header.length as usize];
                let records = batch::records(format, raw, &header).map_err(invalid)?;
                pos += header.length as usize;
                // A control batch (a replica's Raft membership or blank entry) is kept
                // whole: its record's key is a control key, not a user's key, even
                // when the bytes happen to match one.
                let control = header.is_control();
                let kept: Vec<(u64, RecordView)> = records
                    .iter()
                    .filter_map(Result::ok)
                    .map(|r| (header.base_offset + u64::from(r.offset_delta), r))
                    .filter(|(offset, r)| control || keep(*offset, r))
                    .collect();
                stats.records_removed += u64::from(header.record_count) - kept.len() as u64;
                outputs.push(format, raw, &header, &kept)?;
            }
        }
        Ok(())
    }

    /// Commits the swap under the writer lock, after checking that retention did not
    /// change the sealed segments meanwhile.
    fn commit_rewrite(
        &self,
        old: &[Arc<Segment>],
        new: Vec<SealedEntry>,
    ) -> Result<(), MaintenanceError> {
        let mut w = self.lock_writer();
        let current = self.segment_list();
        let unchanged =
            current.len() > old.len() && current.iter().zip(old).all(|(a, b)| Arc::ptr_eq(a, b));
        if !unchanged {
            for e in &new {
                remove_swap_files(&self.dir, e.base_offset);
            }
            return Err(MaintenanceError::Invalid {
                log: self.ident.clone(),
                reason: "segments changed during the rewrite; try again".into(),
            });
        }
        let mut checkpoint = w.checkpoint.clone();
        // Only the rewritten prefix changes: segments sealed meanwhile stay listed.
        checkpoint.sealed.splice(..old.len(), new.iter().copied());
        let intent = Intent {
            remove: old.iter().map(|s| s.base_offset).collect(),
            install: new.iter().map(|e| e.base_offset).collect(),
            checkpoint: checkpoint.clone(),
        };
        self.commit_swap(&intent, old)?;
        w.checkpoint = checkpoint;
        let config = self.config();
        let mut list: Vec<Arc<Segment>> = new
            .iter()
            .map(|e| {
                Arc::new(Segment::from_checkpoint(
                    &self.dir,
                    *e,
                    config.index_interval_bytes,
                    &config.open_segments,
                ))
            })
            .collect();
        list.extend(current[old.len()..].iter().cloned());
        *self.segments.write().expect("segments lock") = Arc::new(list);
        Ok(())
    }
}

/// The new segments of a rewrite: those finished and the one being written.
struct Outputs<'a> {
    log: &'a Log,
    segment_bytes: u64,
    index_interval: u32,
    finished: Vec<SealedEntry>,
    current: SwapOutput,
    /// Base offsets of every output created, to clean up an abandoned rewrite.
    created: Vec<u64>,
}

impl<'a> Outputs<'a> {
    /// Starts the first output at `base`.
    fn start(log: &'a Log, base: u64) -> Result<Outputs<'a>, MaintenanceError> {
        let config = log.config();
        let current = SwapOutput::create(&log.dir, &log.ident, base, config.index_interval_bytes);
        let current = current.inspect_err(|_| remove_swap_files(&log.dir, base))?;
        Ok(Outputs {
            log,
            segment_bytes: config.segment_bytes,
            index_interval: config.index_interval_bytes,
            finished: Vec::new(),
            current,
            created: vec![base],
        })
    }

    /// Appends the `kept` records of the batch `raw` (of `format`, with `header`),
    /// starting a new output when the current one is full.
    fn push(
        &mut self,
        format: BatchFormat,
        raw: &[u8],
        header: &BatchHeader,
        kept: &[(u64, RecordView)],
    ) -> Result<(), MaintenanceError> {
        // A version 2 batch keeps its range of offsets; a version 1 batch is cut to the
        // records it keeps (and dropped with none).
        let range = match (format, kept.first(), kept.last()) {
            (BatchFormat::V2, _, _) => (header.base_offset, header.last_offset()),
            (BatchFormat::V1, Some((first, _)), Some((last, _))) => (*first, *last),
            (BatchFormat::V1, _, _) => return Ok(()),
        };
        let mut buf = Vec::new();
        let unchanged =
            format == BatchFormat::CURRENT && kept.len() == header.record_count as usize;
        let bytes: &[u8] = if unchanged {
            raw // unchanged batch: copy its bytes as they are
        } else {
            self.encode(&mut buf, format, header, range.0, kept)?;
            &buf
        };
        let full = self.current.len() + bytes.len() as u64 > self.segment_bytes;
        // Index entries hold offsets relative to the segment base in a `u32`.
        let far = range.1 - self.current.base() > u64::from(u32::MAX);
        if !self.current.is_empty() && (full || far) {
            self.roll(range.0)?;
        }
        self.current.push(bytes)
    }

    /// Encodes `kept` as one batch of the current format based at `first` into `buf`,
    /// keeping a version 2 `header`'s producer, term and offset range.
    fn encode(
        &self,
        buf: &mut Vec<u8>,
        format: BatchFormat,
        header: &BatchHeader,
        first: u64,
        kept: &[(u64, RecordView)],
    ) -> Result<(), MaintenanceError> {
        let records: Vec<_> = kept
            .iter()
            .map(|(o, r)| ((o - first) as u32, r.to_record()))
            .collect();
        let meta = match format {
            BatchFormat::V2 => batch::v2::BatchMeta::of(header),
            BatchFormat::V1 => batch::v2::BatchMeta::default(),
        };
        batch::v2::encode(buf, records.iter().map(|(d, r)| (*d, r)), &meta).map_err(|e| {
            MaintenanceError::Invalid {
                log: self.log.ident.clone(),
                reason: e.reason,
            }
        })?;
        batch::seal(BatchFormat::CURRENT, buf, first);
        Ok(())
    }

    /// Finishes the current output, which ends at `base`, and starts one there.
    fn roll(&mut self, base: u64) -> Result<(), MaintenanceError> {
        self.created.push(base);
        let next = SwapOutput::create(&self.log.dir, &self.log.ident, base, self.index_interval)?;
        let mut done = std::mem::replace(&mut self.current, next);
        self.finished.push(done.finish(base)?);
        Ok(())
    }

    /// Finishes the last output, which ends at `end`; returns every output's entry.
    fn finish(&mut self, end: u64) -> Result<Vec<SealedEntry>, MaintenanceError> {
        let last = self.current.finish(end)?;
        self.finished.push(last);
        Ok(std::mem::take(&mut self.finished))
    }

    /// Removes every file written: the rewrite will not be committed.
    fn abandon(&self) {
        for base in &self.created {
            remove_swap_files(&self.log.dir, *base);
        }
    }
}
