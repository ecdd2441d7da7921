//! Reading records out of one segment, bounded by the high watermark and by limits,
//! verifying the CRC of every batch handed out and stepping around known damage.

use bytes::Bytes;

use super::api_types::ReadLimits;
use super::batch;
use super::error::{LogIdent, ReadError};
use super::record::StoredRecord;
use super::scan;
use super::segment::{self, Damage, FILE_HEADER_LEN, Segment, check_batch_crc};

/// Why reading one segment stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The limits are reached (or damage stops the read after some records).
    Full,
    /// The segment has nothing more below the high watermark: go on to the next one.
    Exhausted,
}

/// A read in progress across segments.
pub struct ReadCursor<'a> {
    /// The log, for error messages.
    pub ident: &'a LogIdent,
    /// First offset wanted.
    pub from: u64,
    /// High watermark: nothing at or above it is returned.
    pub high_watermark: u64,
    /// Limits of the whole read.
    pub limits: ReadLimits,
    /// Records collected so far.
    pub out: Vec<StoredRecord>,
    /// Encoded bytes of the records collected so far.
    pub bytes: usize,
}

impl ReadCursor<'_> {
    fn io(&self, seg: &Segment, source: std::io::Error) -> ReadError {
        ReadError::io(self.ident.clone(), seg.path.clone(), source)
    }

    /// Collects records of `seg` at or after `from` into `out`.
    pub fn read_segment(&mut self, seg: &Segment) -> Result<Progress, ReadError> {
        let (map, end) = seg.data().map_err(|e| self.io(seg, e))?;
        let data = map.committed(end);
        let format = segment::format_of(data);
        let entries = seg.index().map_err(|e| self.io(seg, e))?;
        let rel = self.from.saturating_sub(seg.base_offset);
        let mut pos = entries
            .position_for_offset(rel)
            .map_or(FILE_HEADER_LEN, |p| p as usize);
        loop {
            if let Some(damage) = seg.damage_at(pos as u64) {
                match self.step_over(seg, damage)? {
                    Some(resume) => {
                        pos = resume;
                        continue;
                    }
                    None => return Ok(self.stop_at_damage()),
                }
            }
            if pos >= data.len() {
                return Ok(Progress::Exhausted);
            }
            let header = match check_batch_crc(format, &data[pos..]) {
                Ok(header) => header,
                Err(fault) => {
                    seg.record_damage(find_damage(seg, data, pos, fault.to_string()));
                    continue;
                }
            };
            if header.base_offset >= self.high_watermark {
                return Ok(Progress::Exhausted);
            }
            let batch_pos = pos as u64;
            let batch = &data[pos..pos + header.length as usize];
            pos += header.length as usize;
            // Control batches (transaction markers) hold no data for readers; a batch
            // compaction emptied holds no records.
            if header.last_offset() < self.from || header.is_control() || header.record_count == 0 {
                continue;
            }
            let records = batch::records(format, batch, &header)
                .map_err(|fault| corrupt(self.ident, seg, batch_pos, fault.to_string(), None))?;
            let body = records.body();
            // Copied out of the map once, on the first record returned from this batch,
            // unless the batch is much larger than the read may return: then a reader
            // holding a few records would pin far more memory than it asked for.
            let mut shared: Option<Bytes> = None;
            let share_batch = body.len() <= self.limits.max_bytes.max(64 << 10).saturating_mul(2);
            for record in records.iter() {
                let record = record.map_err(|fault| {
                    corrupt(self.ident, seg, batch_pos, fault.to_string(), None)
                })?;
                let offset = header.base_offset + u64::from(record.offset_delta);
                if offset < self.from {
                    continue;
                }
                if offset >= self.high_watermark {
                    return Ok(Progress::Exhausted);
                }
                let over_bytes = self.bytes + record.encoded_len > self.limits.max_bytes;
                if self.out.len() >= self.limits.max_records || (over_bytes && !self.out.is_empty())
                {
                    return Ok(Progress::Full);
                }
                self.bytes += record.encoded_len;
                if share_batch {
                    let shared = shared.get_or_insert_with(|| Bytes::copy_from_slice(body));
                    self.out
                        .push(record.to_stored_shared(header.base_offset, body, shared));
                } else {
                    self.out.push(record.to_stored(header.base_offset));
                }
            }
        }
    }

    /// Decides what to do at known damage: `Ok(Some(pos))` to continue scanning at
    /// `pos` (the wanted offset lies past it), `Ok(None)` to stop with what we have,
    /// or the corruption error when nothing was collected yet.
    fn step_over(&self, seg: &Segment, damage: Damage) -> Result<Option<usize>, ReadError> {
        let wanted_is_past = damage
            .resume_offset
            .is_some_and(|resume| self.from >= resume);
        if wanted_is_past {
            // Past the last valid batch of a sealed segment, the rest lives in the next segment.
            return Ok(Some(
                damage.resume_position.map_or(usize::MAX, |p| p as usize),
            ));
        }
        if self.out.is_empty() {
            return Err(corrupt(
                self.ident,
                seg,
                damage.position,
                damage.reason,
                damage.resume_offset,
            ));
        }
        Ok(None)
    }

    fn stop_at_damage(&self) -> Progress {
        Progress::Full
    }
}

/// Locates the next valid batch after a bad one at `pos`.
fn find_damage(seg: &Segment, data: &[u8], pos: usize, reason: String) -> Damage {
    let damage = match scan::resync_after(data, pos, &seg.continuation()) {
        Some((resume, header)) => Damage {
            position: pos as u64,
            resume_position: Some(resume as u64),
            resume_offset: Some(header.base_offset),
            reason,
        },
        None => Damage {
            position: pos as u64,
            resume_position: None,
            // A sealed segment's remaining offsets end where the next segment begins.
            resume_offset: seg.is_sealed().then(|| seg.next_offset()),
            reason,
        },
    };
    tracing::error!(
        segment = %seg.path.display(),
        position = pos,
        resume_position = ?damage.resume_position,
        bytes = ?damage.resume_position.map(|end| end - damage.position),
        resume_offset = ?damage.resume_offset,
        reason = %damage.reason,
        "corrupt batch"
    );
    damage
}

fn corrupt(
    ident: &LogIdent,
    seg: &Segment,
    position: u64,
    reason: String,
    next: Option<u64>,
) -> ReadError {
    ReadError::Corrupt {
        log: ident.clone(),
        segment: seg.path.clone(),
        position,
        reason,
        next_readable: next,
    }
}
