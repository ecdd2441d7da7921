//! Scanning raw segment bytes: recovery of the active segment (cut a torn tail, report
//! damage followed by valid data) and resynchronising past a damaged batch.
//!
//! A resync must never adopt a batch that merely looks valid: a producer may store a
//! whole encoded batch inside a record value, and once the batch around it is damaged
//! that inner batch has a valid CRC at an unaligned position. So a batch found after
//! damage is taken only if its offsets continue the log ([`Continuation`]).

use super::batch::{self, BatchFormat, BatchHeader};
use super::index::{IndexBuilder, IndexEntry};
use super::segment::{self, Damage, FILE_HEADER_LEN, check_batch};

/// What a scan of a segment's bytes found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOutcome {
    /// Position after the last valid batch: where the next append goes.
    pub valid_end: u64,
    /// One past the last valid record's offset (the base offset if none).
    pub next_offset: u64,
    /// Largest timestamp seen (`i64::MIN` if none).
    pub max_timestamp: i64,
    /// Timestamp of the first record of the first valid batch, if any.
    pub first_timestamp: Option<i64>,
    /// Index entries for the valid batches.
    pub index: Vec<IndexEntry>,
    /// Damaged stretches followed by valid batches (corruption, not a torn tail).
    pub damage: Vec<Damage>,
    /// Position one past the last non-zero byte after `valid_end`, if any: the extent
    /// of a torn tail to be zeroed.
    pub torn_tail_end: Option<u64>,
}

/// What a batch found past damage must satisfy to be taken as the log's continuation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Continuation {
    /// One past the last offset before the damage: a resumed batch starts above it.
    pub next_offset: u64,
    /// One past the last offset the segment may hold, when known (a sealed segment's
    /// end, or the writer's next offset for the active one): no batch may reach past it.
    pub end_offset: Option<u64>,
    /// Whether every batch before the damage continued its predecessor exactly and held
    /// one uncompressed record per offset, as appends write them (no compaction, no
    /// compression). The damaged bytes can then hide at most one offset per minimal
    /// record they could hold.
    pub dense: bool,
}

impl Continuation {
    /// Any batch at or above `min_offset` (offline tools that only report damage).
    pub fn at_least(min_offset: u64) -> Continuation {
        Continuation {
            next_offset: min_offset,
            end_offset: None,
            dense: false,
        }
    }

    /// Whether `header`, found at `position` after damage starting at `damage_at`,
    /// continues the log.
    fn accepts(
        &self,
        format: BatchFormat,
        damage_at: usize,
        position: usize,
        header: &BatchHeader,
    ) -> bool {
        let Some(gap) = header.base_offset.checked_sub(self.next_offset) else {
            return false;
        };
        if let Some(end) = self.end_offset {
            return header.next_offset() <= end;
        }
        if !self.dense {
            return true;
        }
        // The damaged stretch held at least one record (an appended batch is never
        // empty) and at most one per minimal encoded record.
        let hidden_max = (position - damage_at) / format.min_record_len();
        gap >= 1 && gap <= hidden_max as u64
    }
}

/// Scans `bytes` (a whole segment file) from the first batch, with no known end offset.
/// See [`scan_segment_bounded`].
pub fn scan_segment(bytes: &[u8], base_offset: u64, index_interval: u32) -> ScanOutcome {
    scan_segment_bounded(bytes, base_offset, index_interval, None)
}

/// Scans `bytes` (a whole segment file) from the first batch. Stops at the first
/// position from which no valid batch continues the log; damage followed by valid
/// batches is recorded and skipped, never treated as the end. `end_offset` is one past
/// the last offset the segment may hold, when known.
pub fn scan_segment_bounded(
    bytes: &[u8],
    base_offset: u64,
    index_interval: u32,
    end_offset: Option<u64>,
) -> ScanOutcome {
    let format = segment::format_of(bytes);
    let mut builder = IndexBuilder::new(base_offset, index_interval, FILE_HEADER_LEN as u64);
    let mut pos = FILE_HEADER_LEN;
    let mut first_timestamp = None;
    let mut cont = Continuation {
        next_offset: base_offset,
        end_offset,
        dense: true,
    };
    let mut damage = Vec::new();
    while pos < bytes.len() {
        let fault = match check_batch(format, &bytes[pos..]) {
            Ok(header) if continues(&cont, &header) => {
                builder.observe(pos as u64, &header);
                first_timestamp.get_or_insert(header.first_timestamp);
                cont.dense &= header.base_offset == cont.next_offset && header.is_dense();
                cont.next_offset = header.next_offset();
                pos += header.length as usize;
                continue;
            }
            Ok(header) => format!(
                "offsets {}..{} do not continue the log (expected from {})",
                header.base_offset,
                header.next_offset(),
                cont.next_offset
            ),
            Err(fault) => fault.to_string(),
        };
        match resync_after(bytes, pos, &cont) {
            Some((resume, header)) => {
                damage.push(Damage {
                    position: pos as u64,
                    resume_position: Some(resume as u64),
                    resume_offset: Some(header.base_offset),
                    reason: fault,
                });
                pos = resume;
            }
            None => break,
        }
    }
    let pos = pos.min(bytes.len());
    let torn_tail_end = bytes[pos..]
        .iter()
        .rposition(|b| *b != 0)
        .map(|i| (pos + i + 1) as u64);
    ScanOutcome {
        valid_end: pos as u64,
        next_offset: cont.next_offset,
        max_timestamp: builder.max_timestamp(),
        first_timestamp,
        index: builder.entries,
        damage,
        torn_tail_end,
    }
}

/// Whether a valid batch at a batch boundary continues the log: offsets never go
/// backwards (compaction may leave gaps) nor past the segment's known end.
fn continues(cont: &Continuation, header: &BatchHeader) -> bool {
    header.base_offset >= cont.next_offset
        && cont
            .end_offset
            .is_none_or(|end| header.next_offset() <= end)
}

/// Finds the first valid batch strictly after `from` whose base offset is at least
/// `min_offset`, with nothing else known (offline tools). Recovery and readers use
/// [`resync_after`].
pub fn resync(bytes: &[u8], from: usize, min_offset: u64) -> Option<(usize, BatchHeader)> {
    resync_after(bytes, from, &Continuation::at_least(min_offset))
}

/// Finds the batch that continues the log after damage at `from`. First where the
/// damaged batch's own header says it ends, if a valid batch starting exactly at the
/// offset that header promises is there (damage inside a batch's records leaves its
/// header intact); else the first valid batch after `from` that `cont` accepts. Zero
/// words are skipped quickly: unwritten space is all zeros.
pub fn resync_after(
    bytes: &[u8],
    from: usize,
    cont: &Continuation,
) -> Option<(usize, BatchHeader)> {
    let format = segment::format_of(bytes);
    if let Some(found) = guided(format, bytes, from, cont) {
        return Some(found);
    }
    let mut pos = from + 1;
    while pos + format.header_len() <= bytes.len() {
        // Sixteen zero bytes cannot hold a batch start in their first eight positions
        // (its length field would be zero), so skipping eight of them is safe.
        if bytes[pos] == 0
            && pos.is_multiple_of(8)
            && bytes
                .get(pos..pos + 16)
                .is_some_and(|w| w.iter().all(|b| *b == 0))
        {
            pos += 8;
            continue;
        }
        if batch::plausible(format, &bytes[pos..], cont.next_offset)
            && let Ok(header) = check_batch(format, &bytes[pos..])
            && cont.accepts(format, from, pos, &header)
        {
            return Some((pos, header));
        }
        pos += 1;
    }
    None
}

/// The batch right after the damaged one, located by the damaged batch's header: taken
/// only if it is valid and starts exactly where that header's offsets end, which
/// random damage to the header cannot fake.
fn guided(
    format: BatchFormat,
    bytes: &[u8],
    from: usize,
    cont: &Continuation,
) -> Option<(usize, BatchHeader)> {
    let (base, length, last_delta) = batch::raw_fields(format, bytes.get(from..)?)?;
    let promised = base.checked_add(last_delta + 1)?;
    let at = from
        .checked_add(length)
        .filter(|_| length > format.header_len())?;
    let in_order = if cont.dense {
        base == cont.next_offset
    } else {
        base >= cont.next_offset
    };
    let header = check_batch(format, bytes.get(at..)?).ok()?;
    let exact = header.base_offset == promised;
    let inside = cont
        .end_offset
        .is_none_or(|end| header.next_offset() <= end);
    (in_order && exact && inside).then_some((at, header))
}
