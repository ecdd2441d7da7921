//! Rewriting sealed segments (the hook key compaction uses): keep a subset of the
//! records, with their offsets, timestamps, keys, values and headers unchanged, and
//! merge the results into as few segments as `segment_bytes` allows. The swap commits
//! through a roll-forward intent (see `swap.rs`).

use std::sync::Arc;

use super::batch::{self, RecordIter, RecordView};
use super::checkpoint::SealedEntry;
use super::error::MaintenanceError;
use super::fsutil;
use super::index::{self, IndexBuilder};
use super::log::Log;
use super::segment::{self, FILE_HEADER_LEN, Segment};
use super::swap::Intent;

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

/// A new segment being written as `<base>.log.swap`.
struct Output {
    base: u64,
    bytes: Vec<u8>,
    index: IndexBuilder,
    next_offset: u64,
}

impl Output {
    fn new(base: u64, interval: u32) -> Output {
        Output {
            base,
            bytes: segment::file_header(base).to_vec(),
            index: IndexBuilder::new(base, interval, FILE_HEADER_LEN as u64),
            next_offset: base,
        }
    }
}

impl Log {
    /// Rewrites every sealed segment, keeping the records for which
    /// `keep(offset, record)` is true. Crash-safe: the log is either as before or as
    /// after. Readers inside the replaced segments finish on the old files.
    pub fn rewrite_sealed(
        &self,
        mut keep: impl FnMut(u64, &RecordView<'_>) -> bool,
    ) -> Result<RewriteStats, MaintenanceError> {
        let segments: Vec<Arc<Segment>> = self
            .segment_list()
            .iter()
            .filter(|s| s.is_sealed())
            .cloned()
            .collect();
        let Some(last) = segments.last() else {
            return Ok(RewriteStats::default());
        };
        let config = self.config();
        let mut stats = RewriteStats {
            segments_before: segments.len(),
            ..Default::default()
        };
        let mut outputs = vec![Output::new(
            segments[0].base_offset,
            config.index_interval_bytes,
        )];
        for seg in &segments {
            // A reader holding this segment after the swap keeps the map it has; one
            // that must load it again is sent to the new segments (`Segment::retire`).
            let (map, end) = seg.data().map_err(self.io_error(&seg.path))?;
            seg.index().map_err(self.io_error(&seg.path))?;
            stats.bytes_before += end as u64;
            let data = map.committed(end);
            let mut pos = FILE_HEADER_LEN;
            while pos < data.len() {
                let header = segment::check_batch(&data[pos..]).map_err(|fault| {
                    MaintenanceError::Invalid {
                        log: self.ident.clone(),
                        reason: format!(
                            "{} position {pos}: {fault}; run verify before compacting",
                            seg.path.display()
                        ),
                    }
                })?;
                let raw = &data[pos..pos + header.length as usize];
                pos += header.length as usize;
                let kept: Vec<(u64, RecordView)> = RecordIter::new(raw)
                    .filter_map(Result::ok)
                    .map(|r| (header.base_offset + u64::from(r.offset_delta), r))
                    .filter(|(offset, r)| keep(*offset, r))
                    .collect();
                stats.records_removed += u64::from(header.record_count) - kept.len() as u64;
                self.emit(
                    &mut outputs,
                    raw,
                    header.record_count as usize,
                    &kept,
                    &config,
                )?;
            }
        }
        // The last output covers up to where the sealed range ends, gaps included.
        outputs.last_mut().expect("one output").next_offset = last.next_offset();
        let new_entries = self.write_outputs(&mut outputs)?;
        stats.segments_after = new_entries.len();
        stats.bytes_after = new_entries.iter().map(|e| e.data_len).sum();
        self.commit_rewrite(&segments, new_entries)?;
        Ok(stats)
    }

    /// Appends kept records to the current output, rolling to a new output when full.
    fn emit(
        &self,
        outputs: &mut Vec<Output>,
        raw: &[u8],
        count: usize,
        kept: &[(u64, RecordView)],
        config: &super::LogConfig,
    ) -> Result<(), MaintenanceError> {
        let Some((first, _)) = kept.first() else {
            return Ok(());
        };
        let mut buf = Vec::new();
        let bytes: &[u8] = if kept.len() == count {
            raw // unchanged batch: copy its bytes as they are
        } else {
            let records: Vec<_> = kept
                .iter()
                .map(|(o, r)| ((o - first) as u32, r.to_record()))
                .collect();
            batch::encode(&mut buf, records.iter().map(|(d, r)| (*d, r))).map_err(|e| {
                MaintenanceError::Invalid {
                    log: self.ident.clone(),
                    reason: e.reason,
                }
            })?;
            batch::seal(&mut buf, *first);
            &buf
        };
        let current = outputs.last().expect("one output");
        let full = (current.bytes.len() + bytes.len()) as u64 > config.segment_bytes;
        // Index entries hold offsets relative to the segment base in a `u32`.
        let far = kept.last().map_or(0, |(o, _)| o - current.base) > u64::from(u32::MAX);
        if current.bytes.len() > FILE_HEADER_LEN && (full || far) {
            let next = Output::new(*first, config.index_interval_bytes);
            outputs.last_mut().expect("one output").next_offset = *first;
            outputs.push(next);
        }
        let out = outputs.last_mut().expect("one output");
        let header = batch::trusted_header(bytes);
        out.index.observe(out.bytes.len() as u64, &header);
        out.bytes.extend_from_slice(bytes);
        Ok(())
    }

    /// Writes each output as `.swap` files, synced; returns their checkpoint entries.
    fn write_outputs(&self, outputs: &mut [Output]) -> Result<Vec<SealedEntry>, MaintenanceError> {
        let mut entries = Vec::new();
        for out in outputs.iter() {
            let log_path = self
                .dir
                .join(format!("{}.swap", fsutil::segment_file_name(out.base)));
            let index_path = self
                .dir
                .join(format!("{}.swap", fsutil::index_file_name(out.base)));
            let index_bytes = index::encode(out.base, &out.index.entries);
            fsutil::write_synced(&log_path, &out.bytes).map_err(self.io_error(&log_path))?;
            fsutil::write_synced(&index_path, &index_bytes).map_err(self.io_error(&index_path))?;
            entries.push(SealedEntry {
                base_offset: out.base,
                next_offset: out.next_offset,
                data_len: out.bytes.len() as u64,
                max_timestamp: out.index.max_timestamp(),
                index_crc: crc32fast::hash(&index_bytes),
                index_entries: out.index.entries.len() as u32,
            });
        }
        Ok(entries)
    }

    /// Commits the swap under the writer lock, after checking that retention did not
    /// change the sealed segments meanwhile.
    fn commit_rewrite(
        &self,
        old: &[Arc<Segment>],
        new: Vec<SealedEntry>,
    ) -> Result<(), MaintenanceError> {
        let mut w = self.writer.lock().expect("writer lock");
        let current = self.segment_list();
        let unchanged =
            current.len() > old.len() && current.iter().zip(old).all(|(a, b)| Arc::ptr_eq(a, b));
        if !unchanged {
            for e in &new {
                let _ = fsutil::remove_if_exists(
                    &self
                        .dir
                        .join(format!("{}.swap", fsutil::segment_file_name(e.base_offset))),
                );
                let _ = fsutil::remove_if_exists(
                    &self
                        .dir
                        .join(format!("{}.swap", fsutil::index_file_name(e.base_offset))),
                );
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
