//! Hooks for the layers above: delete old segments (retention), truncate to an
//! offset, and replace sealed segments with rewritten ones (compaction).
//! Each commits through the checkpoint or a swap intent, so a crash leaves the log
//! entirely before or entirely after the operation.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::api_types::DeletedSegments;
use super::batch::{self, BatchFormat, BatchHeader};
use super::error::MaintenanceError;
use super::fsutil::{self, AtomicWriteError};
use super::log::{Log, Writer};
use super::recovery;
use super::segment::{self, FILE_HEADER_LEN, Segment};
use super::swap::Intent;

impl Log {
    pub(crate) fn io_error(
        &self,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> MaintenanceError + '_ {
        let path = path.to_path_buf();
        move |source| MaintenanceError::io(self.ident.clone(), path, source)
    }

    /// Commits a swap intent and carries it out, retiring `leaving` in between. If
    /// storing the intent fails before its rename, nothing changed: the error is
    /// returned and the log stays as it was (a full disk here is an ordinary error). Once
    /// the intent may be on disk, a failure leaves the files possibly in the new state
    /// while memory holds the old one, so the log refuses writes until it is reopened
    /// (and recovery finishes the swap). The segments leave only once the intent is
    /// stored, so a swap refused early keeps every segment readable.
    pub(crate) fn commit_swap(
        &self,
        intent: &Intent,
        leaving: &[Arc<Segment>],
    ) -> Result<(), MaintenanceError> {
        let poisoned = |source: std::io::Error| {
            let _ = self
                .poison
                .set(format!("replacing segments failed: {source}"));
            MaintenanceError::io(self.ident.clone(), self.dir.clone(), source)
        };
        match intent.write(&self.dir) {
            Ok(()) => {}
            Err(AtomicWriteError::BeforeRename(source)) => {
                return Err(MaintenanceError::io(
                    self.ident.clone(),
                    self.dir.clone(),
                    source,
                ));
            }
            Err(AtomicWriteError::AfterRename(source)) => return Err(poisoned(source)),
        }
        leaving.iter().for_each(|s| s.retire());
        intent.apply(&self.dir).map_err(poisoned)
    }

    /// Deletes whole sealed segments whose records all lie below `offset` (retention).
    /// The log start moves to the first remaining segment. A reader already inside a
    /// deleted segment finishes on it (its map outlives the unlink).
    pub fn delete_segments_below(&self, offset: u64) -> Result<DeletedSegments, MaintenanceError> {
        let mut w = self.lock_writer();
        let segments = self.segment_list();
        let n = segments
            .iter()
            // Never the writer's segment, even when a failed roll left it sealed.
            .take_while(|s| {
                s.is_sealed() && !Arc::ptr_eq(s, &w.active) && s.next_offset() <= offset
            })
            .count();
        if n == 0 {
            return Ok(DeletedSegments {
                log_start_offset: self.log_start_offset(),
                ..Default::default()
            });
        }
        let old_start = self.log_start_offset();
        let new_start = segments[n].base_offset.max(old_start);
        let mut checkpoint = w.checkpoint.clone();
        checkpoint.sealed.drain(..n);
        checkpoint.log_start_offset = new_start;
        checkpoint
            .store(&self.dir)
            .map_err(self.io_error(&self.dir))?;
        w.checkpoint = checkpoint;
        segments[..n].iter().for_each(|s| s.retire());
        // Log start first: a reader that sees the shorter list also sees the new start.
        self.log_start.store(new_start, Ordering::Release);
        *self.segments.write().expect("segments lock") = Arc::new(segments[n..].to_vec());
        let mut bytes = 0;
        for gone in &segments[..n] {
            bytes += gone.size_bytes();
            for path in [gone.path.clone(), gone.index_path()] {
                if let Err(error) = fsutil::remove_if_exists(&path) {
                    tracing::warn!(path = %path.display(), %error, "could not remove deleted segment; removed on next open");
                }
            }
        }
        tracing::info!(
            log = %self.ident,
            dir = %self.dir.display(),
            first_segment = %segments[0].path.display(),
            segments = n,
            bytes,
            records = new_start - old_start,
            old_log_start = old_start,
            log_start = new_start,
            "deleted segments below the retention point"
        );
        Ok(DeletedSegments {
            segments: n,
            bytes,
            log_start_offset: new_start,
        })
    }

    /// Removes every record at or above `offset`. The segment holding `offset` is
    /// rewritten (never cut in place, since readers may map it) and becomes the active
    /// segment; later segments are deleted.
    pub fn truncate_to(&self, offset: u64) -> Result<(), MaintenanceError> {
        if self.poison.get().is_some() {
            return Err(MaintenanceError::Poisoned {
                log: self.ident.clone(),
            });
        }
        // Under the writer lock, everything written must already be durable: an appender
        // still waiting for its fsync would otherwise be acknowledged for a cut batch.
        let mut w = loop {
            self.sync()?;
            let w = self.lock_writer();
            if self.durable.load(Ordering::Acquire) >= w.next_offset {
                break w;
            }
        };
        if offset >= w.next_offset {
            return Ok(());
        }
        if offset < self.log_start_offset() {
            return Err(MaintenanceError::Invalid {
                log: self.ident.clone(),
                reason: format!(
                    "cannot truncate to {offset}, below the log start {}",
                    self.log_start_offset()
                ),
            });
        }
        let segments = self.segment_list();
        let idx = segments
            .partition_point(|s| s.base_offset <= offset)
            .saturating_sub(1);
        let target = segments[idx].clone();
        let bytes_before: u64 = segments[idx..].iter().map(|s| s.size_bytes()).sum();
        let next_before = w.next_offset;
        self.write_prefix(&target, offset)?;
        let mut checkpoint = w.checkpoint.clone();
        checkpoint
            .sealed
            .retain(|e| e.base_offset < target.base_offset);
        let intent = Intent {
            remove: segments[idx..].iter().map(|s| s.base_offset).collect(),
            install: vec![target.base_offset],
            checkpoint: checkpoint.clone(),
        };
        self.commit_swap(&intent, &segments[idx..])?;
        w.checkpoint = checkpoint;
        self.install_active(&mut w, target.base_offset, segments[..idx].to_vec())?;
        self.truncate_producers(&mut w, offset);
        tracing::info!(
            log = %self.ident,
            segment = %target.path.display(),
            offset,
            records = next_before - offset,
            bytes = bytes_before.saturating_sub(w.write_pos),
            segments_deleted = segments.len() - idx - 1,
            "truncated"
        );
        Ok(())
    }

    /// Writes `<base>.log.swap` holding the records of `seg` below `offset`.
    fn write_prefix(&self, seg: &Segment, offset: u64) -> Result<(), MaintenanceError> {
        let (map, end) = seg.data().map_err(self.io_error(&seg.path))?;
        let data = map.committed(end);
        // The prefix keeps the segment's format: a segment never mixes formats.
        let format = segment::format_of(data);
        let mut out = segment::file_header(format, seg.base_offset).to_vec();
        let mut pos = FILE_HEADER_LEN;
        while pos < data.len() {
            let Ok(header) = segment::check_batch(format, &data[pos..]) else {
                break;
            };
            let raw = &data[pos..pos + header.length as usize];
            if header.base_offset >= offset {
                break;
            }
            if header.last_offset() < offset {
                out.extend_from_slice(raw);
            } else {
                out.extend_from_slice(&self.cut_batch(format, raw, &header, offset)?);
            }
            pos += header.length as usize;
        }
        let swap = self.dir.join(format!(
            "{}.swap",
            fsutil::segment_file_name(seg.base_offset)
        ));
        fsutil::write_synced(&swap, &out).map_err(self.io_error(&swap))
    }

    /// The records of the batch `raw` below `offset`, as a batch of their own with the
    /// same base offset (and, in version 2, the same producer and leader fields).
    fn cut_batch(
        &self,
        format: BatchFormat,
        raw: &[u8],
        header: &BatchHeader,
        offset: u64,
    ) -> Result<Vec<u8>, MaintenanceError> {
        let invalid = |reason: String| MaintenanceError::Invalid {
            log: self.ident.clone(),
            reason,
        };
        let records = batch::records(format, raw, header).map_err(|f| invalid(f.to_string()))?;
        let kept: Vec<_> = records
            .iter()
            .filter_map(Result::ok)
            .filter(|r| header.base_offset + u64::from(r.offset_delta) < offset)
            .map(|r| (r.offset_delta, r.to_record()))
            .collect();
        let kept = kept.iter().map(|(d, r)| (*d, r));
        let mut buf = Vec::new();
        match format {
            BatchFormat::V1 => batch::v1::encode(&mut buf, kept),
            BatchFormat::V2 => {
                let meta = batch::v2::BatchMeta {
                    last_offset_delta: None,
                    ..batch::v2::BatchMeta::of(header)
                };
                batch::v2::encode(&mut buf, kept, &meta)
            }
        }
        .map_err(|e| invalid(e.reason))?;
        batch::seal(format, &mut buf, header.base_offset);
        Ok(buf)
    }

    /// After a committed swap, reopens the segment at `base` as the active one.
    pub(super) fn install_active(
        &self,
        w: &mut Writer,
        base: u64,
        mut kept: Vec<Arc<Segment>>,
    ) -> Result<(), MaintenanceError> {
        let config = self.config();
        let active =
            recovery::open_active_segment(&self.dir, &self.ident, &config, base).map_err(|e| {
                MaintenanceError::Invalid {
                    log: self.ident.clone(),
                    reason: format!("reopening the truncated segment: {e}"),
                }
            })?;
        kept.push(active.segment.clone());
        // Before lowering the high watermark: a group-commit leader syncing the old tail
        // must not publish it afterwards (see `sync_written`).
        self.truncations.fetch_add(1, Ordering::AcqRel);
        self.high_watermark
            .store(active.next_offset, Ordering::Release);
        self.durable.store(active.next_offset, Ordering::Release);
        *self.segments.write().expect("segments lock") = Arc::new(kept);
        w.active = active.segment;
        w.file = Arc::new(active.file);
        w.capacity = active.capacity;
        w.file_len = active.file_len;
        w.write_pos = active.write_pos;
        w.zeroed_to = active.write_pos;
        w.next_offset = active.next_offset;
        w.index = active.index;
        w.first_append = active.age_start;
        w.format = active.format;
        Ok(())
    }
}
