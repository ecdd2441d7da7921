//! Whole batches as they are stored: read out of the log byte for byte, and appended
//! as built elsewhere.
//!
//! Replication moves batches, not records: a leader reads the batches a follower lacks
//! and the follower appends them unchanged, so every replica holds the same bytes at
//! the same offsets. Only version 2 batches are appended this way (their CRC does not
//! cover the base offset or the leader term, which the appender stamps).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::api_types::{AppendInfo, ReadLimits, ReadOutcome};
use super::batch::{self, BatchFormat, BatchHeader};
use super::error::{AppendError, ReadError};
use super::log::Log;
use super::producer_state::ProducerBatch;
use super::segment::{self, FILE_HEADER_LEN, Segment, check_batch_crc};

/// One stored batch: its parsed header and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawBatch {
    /// The batch's header.
    pub header: BatchHeader,
    /// The batch's format (that of its segment).
    pub format: BatchFormat,
    /// The whole batch, header included, as stored.
    pub bytes: Bytes,
}

/// Where a walk over batches goes next.
enum Step {
    Continue,
    Stop,
}

impl Log {
    /// Reads whole batches, starting with the one that holds `from`, until `max_bytes`
    /// (at least one batch is returned when one exists) or `max_batches`; only batches
    /// below the high watermark. Every batch's CRC is checked; damage is an error, since
    /// a batch cannot be handed on in part.
    pub fn read_batches(
        &self,
        from: u64,
        max_bytes: usize,
        max_batches: usize,
    ) -> Result<Vec<RawBatch>, ReadError> {
        let mut out: Vec<RawBatch> = Vec::new();
        let mut bytes = 0usize;
        self.walk_batches(from, true, |header, format, data| {
            if out.len() >= max_batches || (!out.is_empty() && bytes + data.len() > max_bytes) {
                return Step::Stop;
            }
            bytes += data.len();
            out.push(RawBatch {
                header: *header,
                format,
                bytes: Bytes::copy_from_slice(data),
            });
            Step::Continue
        })?;
        Ok(out)
    }

    /// The headers of every batch from the one holding `from` up to the high
    /// watermark, in order, without checking CRCs (for bookkeeping that needs batch
    /// boundaries and terms, not records).
    pub fn batch_headers(&self, from: u64) -> Result<Vec<BatchHeader>, ReadError> {
        let mut out = Vec::new();
        self.walk_batches(from, false, |header, _, _| {
            out.push(*header);
            Step::Continue
        })?;
        Ok(out)
    }

    /// [`Log::read`], but never at or past `limit` (a bound below the high watermark,
    /// such as what a majority of replicas hold): the outcome's high watermark is the
    /// smaller of the two.
    pub fn read_below(
        &self,
        offset: u64,
        limits: ReadLimits,
        limit: u64,
    ) -> Result<ReadOutcome, ReadError> {
        self.retrying(|hwm, segments| self.read_in(hwm.min(limit), segments, offset, limits))
    }

    /// Appends a version 2 batch built elsewhere (by a replication leader), with the
    /// leader term already in it: its CRC is checked, its base offset set to the log's
    /// next offset, and its producer fields recorded in the producer state. The batch
    /// is written but not yet durable: [`Log::sync_through`] makes it so. Readers see
    /// it under the fsync policy, as with [`Log::append`].
    pub fn write_batch(&self, batch: &mut [u8]) -> Result<AppendInfo, AppendError> {
        let header = check_batch_crc(BatchFormat::V2, batch).map_err(|fault| {
            AppendError::InvalidRecord {
                index: 0,
                reason: format!("the batch to append is not a valid version 2 batch: {fault}"),
            }
        })?;
        let config = self.config();
        if header.length > config.max_batch_bytes {
            return Err(AppendError::BatchTooLarge {
                size: u64::from(header.length),
                max: config.max_batch_bytes,
            });
        }
        let mut w = self.lock_writer();
        self.check_writable(&w)?;
        if w.active.is_sealed()
            || w.format != BatchFormat::V2
            || self.roll_due(&w, u64::from(header.length))
        {
            self.roll_locked(&mut w)?;
        }
        let (base, next) = self.write_locked(&mut w, batch, header.max_timestamp, config.fsync)?;
        if header.producer_id >= 0 {
            // A producer's batch spans one sequence per offset, also once compaction
            // removed some or all of its records (an emptied batch keeps its header):
            // a replica sent such a batch learns what its leader knew of the producer,
            // as opening the log would by replaying the headers.
            let producer = ProducerBatch {
                producer_id: header.producer_id,
                epoch: header.producer_epoch,
                base_sequence: header.base_sequence,
            };
            let now = super::producers::now_ms();
            let count = header.last_offset_delta + 1;
            w.producers.record(&producer, count, base, next - 1, now);
        }
        Ok(AppendInfo {
            base_offset: base,
            last_offset: next - 1,
            max_timestamp_ms: header.max_timestamp,
            duplicate: false,
        })
    }

    /// Returns once every record below `next` is durable under the fsync policy
    /// (after [`Log::write_batch`]); one `fdatasync` covers every batch written so far.
    pub fn sync_through(&self, next: u64) -> Result<(), AppendError> {
        let truncations = self.truncations.load(Ordering::Acquire);
        self.make_durable(self.config().fsync, next, truncations)
    }

    /// Calls `visit` with each batch (header, format, bytes) from the one holding
    /// `from` to the high watermark, checking CRCs when `verify`.
    fn walk_batches(
        &self,
        from: u64,
        verify: bool,
        mut visit: impl FnMut(&BatchHeader, BatchFormat, &[u8]) -> Step,
    ) -> Result<(), ReadError> {
        self.retrying(|hwm, segments| {
            let log_start = self.log_start_offset();
            if from < log_start || from > hwm {
                return Err(ReadError::OutOfRange {
                    offset: from,
                    log_start,
                    high_watermark: hwm,
                });
            }
            let first = segments
                .partition_point(|s| s.base_offset <= from)
                .saturating_sub(1);
            for seg in &segments[first..] {
                if seg.base_offset >= hwm {
                    break;
                }
                if let Step::Stop = self.walk_segment(seg, from, hwm, verify, &mut visit)? {
                    break;
                }
            }
            Ok(())
        })
    }

    fn walk_segment(
        &self,
        seg: &Arc<Segment>,
        from: u64,
        hwm: u64,
        verify: bool,
        visit: &mut impl FnMut(&BatchHeader, BatchFormat, &[u8]) -> Step,
    ) -> Result<Step, ReadError> {
        let io = |source| ReadError::io(self.ident.clone(), seg.path.clone(), source);
        let (map, end) = seg.data().map_err(io)?;
        let data = map.committed(end);
        let format = segment::format_of(data);
        let entries = seg.index().map_err(io)?;
        let mut pos = entries
            .position_for_offset(from.saturating_sub(seg.base_offset))
            .map_or(FILE_HEADER_LEN, |p| p as usize);
        while pos < data.len() {
            let corrupt = |reason: String| ReadError::Corrupt {
                log: self.ident.clone(),
                segment: seg.path.clone(),
                position: pos as u64,
                reason,
                next_readable: None,
            };
            if let Some(damage) = seg.damage_at(pos as u64) {
                return Err(corrupt(damage.reason));
            }
            let header = if verify {
                check_batch_crc(format, &data[pos..]).map_err(|f| corrupt(f.to_string()))?
            } else {
                batch::check(format, &data[pos..], u32::MAX).map_err(|f| corrupt(f.to_string()))?
            };
            if header.base_offset >= hwm {
                return Ok(Step::Stop);
            }
            let bytes = &data[pos..pos + header.length as usize];
            pos += header.length as usize;
            if header.last_offset() < from {
                continue;
            }
            if let Step::Stop = visit(&header, format, bytes) {
                return Ok(Step::Stop);
            }
        }
        Ok(Step::Continue)
    }
}

impl Log {
    /// The offset the next append gets (at or above the high watermark: under
    /// `--fsync always` a batch written and not yet synced is counted).
    pub fn next_offset(&self) -> u64 {
        self.lock_writer().next_offset
    }
}

impl Log {
    /// What the producer state says of a batch of `count` records from `producer`,
    /// without writing anything: `Some` with the original batch for a retry of one of
    /// the producer's last batches, `None` when it may be appended, or the refusal.
    /// A replication leader asks before proposing the batch, since a proposed batch is
    /// written on every replica whatever it holds.
    pub fn check_producer(
        &self,
        producer: &ProducerBatch,
        count: u32,
    ) -> Result<Option<super::producer_state::SequencedBatch>, AppendError> {
        let config = self.config();
        let mut w = self.lock_writer();
        self.check_writable(&w)?;
        self.check_sequence(&mut w, producer, count, &config)
    }
}
