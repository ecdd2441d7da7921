//! Raw batch reads: the stored batches of a range, handed out as the bytes on disk for
//! clients that decode batches themselves (the `RAW_BATCHES` delivery).
//!
//! No record is parsed: each batch's header and CRC are checked, and runs of adjacent
//! batches become one [`Bytes`] that shares the segment's memory map (no copy here;
//! the transport copies once into its buffers). Holding such bytes keeps the map, and
//! so the file's pages, alive: the map contract (`mmap.rs`) already says a mapped file
//! is never cut below a reader, and deleted or replaced segments stay readable until
//! the last map goes.
//!
//! What is left out: batches before the wanted offset, control batches (transaction
//! markers and the cluster's Raft entries) and batches compaction emptied. The first
//! batch may still begin below the wanted offset: clients skip those records, as Kafka
//! clients do. Batches of version 1 segments are converted to version 2 on the way
//! out (per-record work, but only for data written before version 2 existed), so a
//! client needs to decode a single format.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

use super::api_types::ReadLimits;
use super::batch::{self, BatchFormat, BatchHeader, v2};
use super::error::ReadError;
use super::log::Log;
use super::mmap::SegmentMap;
use super::segment::{self, FILE_HEADER_LEN, Segment, check_batch_crc};

/// The batches of one raw read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawRead {
    /// Version 2 batches in offset order; each element holds one or more whole batches
    /// back to back.
    pub chunks: Vec<Bytes>,
    /// Number of batches in `chunks`.
    pub batches: usize,
    /// Records the batches hold (by their headers' counts, some maybe below `from`).
    pub records: u64,
    /// Total bytes of `chunks`.
    pub bytes: usize,
    /// The offset to read next: one past the last batch returned, or the high watermark
    /// when nothing was returned (everything below it was passed over).
    pub next_offset: u64,
    /// The high watermark (or the smaller bound) the read was served under.
    pub high_watermark: u64,
    /// The log start offset when the read was served.
    pub log_start_offset: u64,
}

/// A range of a segment's map, shared as [`Bytes`] without copying.
struct MappedRange {
    map: Arc<SegmentMap>,
    /// The committed end the range was read under (bytes below it never change).
    end: usize,
    range: Range<usize>,
}

impl AsRef<[u8]> for MappedRange {
    fn as_ref(&self) -> &[u8] {
        &self.map.committed(self.end)[self.range.clone()]
    }
}

/// Why walking a segment stopped.
enum Walked {
    /// Limits reached or damage met after some batches: the read is done.
    Full,
    /// The segment has nothing more below the bound: go on to the next one.
    Exhausted,
}

/// A raw read in progress across segments.
struct RawCursor {
    from: u64,
    bound: u64,
    limits: ReadLimits,
    out: RawRead,
    /// The run of adjacent batches not yet turned into a chunk.
    run: Option<MappedRange>,
}

impl Log {
    /// Reads whole batches from the one holding `from`, below the high watermark and
    /// below `bound` when given (a replica's commit watermark), within `limits` (at least
    /// one batch when one exists; a batch's records and bytes count whole). Every batch
    /// handed out passed its CRC check. Damage stops the read after the batches before
    /// it, and a read starting at damage fails as [`Log::read`] does.
    pub fn read_raw(
        &self,
        from: u64,
        limits: ReadLimits,
        bound: Option<u64>,
    ) -> Result<RawRead, ReadError> {
        self.retrying(|hwm, segments| {
            let hwm = bound.map_or(hwm, |b| b.min(hwm));
            let log_start = self.log_start_offset();
            if from < log_start || from > hwm {
                return Err(ReadError::OutOfRange {
                    offset: from,
                    log_start,
                    high_watermark: hwm,
                });
            }
            let mut cursor = RawCursor {
                from,
                bound: hwm,
                limits,
                out: RawRead {
                    high_watermark: hwm,
                    log_start_offset: log_start,
                    next_offset: hwm,
                    ..RawRead::default()
                },
                run: None,
            };
            let first = segments
                .partition_point(|s| s.base_offset <= from)
                .saturating_sub(1);
            for seg in &segments[first..] {
                if seg.base_offset >= hwm {
                    break;
                }
                match cursor.walk(self, seg) {
                    Ok(Walked::Full) => break,
                    Ok(Walked::Exhausted) => {}
                    Err(error) if cursor.out.batches == 0 => {
                        // The record path knows how to report damage (with the next
                        // readable offset); ask it for the error.
                        return Err(self
                            .read_in(hwm, segments, from, limits)
                            .err()
                            .unwrap_or(error));
                    }
                    Err(_) => break,
                }
            }
            cursor.flush();
            Ok(cursor.out)
        })
    }
}

impl RawCursor {
    fn walk(&mut self, log: &Log, seg: &Arc<Segment>) -> Result<Walked, ReadError> {
        let io = |source| ReadError::io(log.ident.clone(), seg.path.clone(), source);
        let (map, end) = seg.data().map_err(io)?;
        let data = map.committed(end);
        let format = segment::format_of(data);
        let entries = seg.index().map_err(io)?;
        let mut pos = entries
            .position_for_offset(self.from.saturating_sub(seg.base_offset))
            .map_or(FILE_HEADER_LEN, |p| p as usize);
        while pos < data.len() {
            let position = pos as u64;
            let corrupt = |reason: String| ReadError::Corrupt {
                log: log.ident.clone(),
                segment: seg.path.clone(),
                position,
                reason,
                next_readable: None,
            };
            if let Some(damage) = seg.damage_at(pos as u64) {
                return Err(corrupt(damage.reason));
            }
            let header =
                check_batch_crc(format, &data[pos..]).map_err(|f| corrupt(f.to_string()))?;
            if header.base_offset >= self.bound {
                return Ok(Walked::Full);
            }
            let at = pos..pos + header.length as usize;
            pos = at.end;
            if header.last_offset() < self.from || header.is_control() || header.record_count == 0 {
                self.flush();
                continue;
            }
            if self.full_with(&header) {
                return Ok(Walked::Full);
            }
            let sent = match format {
                BatchFormat::V2 => {
                    let len = at.len();
                    self.push_mapped(&map, end, at);
                    len
                }
                BatchFormat::V1 => {
                    let converted = to_v2(&data[at], &header).map_err(corrupt)?;
                    self.flush();
                    let len = converted.len();
                    self.out.chunks.push(Bytes::from(converted));
                    len
                }
            };
            self.count(&header, sent);
        }
        Ok(Walked::Exhausted)
    }

    /// Whether adding the batch of `header` would pass the limits (never for the first).
    fn full_with(&self, header: &BatchHeader) -> bool {
        let out = &self.out;
        out.batches > 0
            && (out.bytes + header.length as usize > self.limits.max_bytes
                || out.records + u64::from(header.record_count) > self.limits.max_records as u64)
    }

    /// Counts a batch of `header` sent as `sent` bytes (a converted batch's length).
    fn count(&mut self, header: &BatchHeader, sent: usize) {
        self.out.batches += 1;
        self.out.records += u64::from(header.record_count);
        self.out.bytes += sent;
        self.out.next_offset = header.next_offset();
    }

    /// Extends the current run with `range` of `map` when adjacent, else starts one.
    fn push_mapped(&mut self, map: &Arc<SegmentMap>, end: usize, range: Range<usize>) {
        if let Some(run) = &mut self.run
            && Arc::ptr_eq(&run.map, map)
            && run.range.end == range.start
        {
            run.range.end = range.end;
            run.end = end;
            return;
        }
        self.flush();
        self.run = Some(MappedRange {
            map: Arc::clone(map),
            end,
            range,
        });
    }

    /// Turns the current run into a chunk.
    fn flush(&mut self) {
        if let Some(run) = self.run.take() {
            self.out.chunks.push(Bytes::from_owner(run));
        }
    }
}

/// The version 2 batch holding the records of the version 1 `batch`, at the same
/// offsets, with the same producer fields.
fn to_v2(batch: &[u8], header: &BatchHeader) -> Result<Vec<u8>, String> {
    let records = batch::records(BatchFormat::V1, batch, header).map_err(|f| f.to_string())?;
    let mut numbered = Vec::with_capacity(header.record_count as usize);
    for record in records.iter() {
        let record = record.map_err(|f| f.to_string())?;
        numbered.push((record.offset_delta, record.to_record()));
    }
    let mut buf = Vec::new();
    let meta = v2::BatchMeta::of(header);
    v2::encode(&mut buf, numbered.iter().map(|(d, r)| (*d, r)), &meta).map_err(|e| e.reason)?;
    v2::seal(&mut buf, header.base_offset);
    Ok(buf)
}

#[cfg(test)]
#[path = "raw_read_tests.rs"]
mod tests;
