//! Scanning raw segment bytes: recovery of the active segment (cut a torn tail, report
//! damage followed by valid data) and resynchronising past a damaged batch.

use super::batch::BatchHeader;
use super::index::{IndexBuilder, IndexEntry};
use super::segment::{Damage, FILE_HEADER_LEN, check_batch};

/// What a scan of a segment's bytes found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOutcome {
    /// Position after the last valid batch: where the next append goes.
    pub valid_end: u64,
    /// One past the last valid record's offset (the base offset if none).
    pub next_offset: u64,
    /// Largest timestamp seen (`i64::MIN` if none).
    pub max_timestamp: i64,
    /// Index entries for the valid batches.
    pub index: Vec<IndexEntry>,
    /// Damaged stretches followed by valid batches (corruption, not a torn tail).
    pub damage: Vec<Damage>,
    /// Position one past the last non-zero byte after `valid_end`, if any: the extent
    /// of a torn tail to be zeroed.
    pub torn_tail_end: Option<u64>,
}

/// Scans `bytes` (a whole segment file) from the first batch. Stops at the first
/// position from which no valid batch follows; damage followed by valid batches is
/// recorded and skipped, never treated as the end.
pub fn scan_segment(bytes: &[u8], base_offset: u64, index_interval: u32) -> ScanOutcome {
    let mut builder = IndexBuilder::new(base_offset, index_interval, FILE_HEADER_LEN as u64);
    let mut pos = FILE_HEADER_LEN;
    let mut next_offset = base_offset;
    let mut damage = Vec::new();
    while pos < bytes.len() {
        let fault = match check_batch(&bytes[pos..]) {
            Ok(header) if header.base_offset >= next_offset => {
                builder.observe(pos as u64, &header);
                next_offset = header.next_offset();
                pos += header.length as usize;
                continue;
            }
            Ok(header) => format!(
                "offset {} goes backwards (expected ≥ {next_offset})",
                header.base_offset
            ),
            Err(fault) => fault.to_string(),
        };
        match resync(bytes, pos, next_offset) {
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
        next_offset,
        max_timestamp: builder.max_timestamp(),
        index: builder.entries,
        damage,
        torn_tail_end,
    }
}

/// Finds the first valid batch strictly after `from` whose base offset is at least
/// `min_offset`. Zero words are skipped quickly: unwritten space is all zeros.
pub fn resync(bytes: &[u8], from: usize, min_offset: u64) -> Option<(usize, BatchHeader)> {
    let mut pos = from + 1;
    while pos + super::batch::HEADER_LEN <= bytes.len() {
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
        if plausible(&bytes[pos..], min_offset)
            && let Ok(header) = check_batch(&bytes[pos..])
        {
            return Some((pos, header));
        }
        pos += 1;
    }
    None
}

/// Cheap header checks before paying for a CRC.
fn plausible(bytes: &[u8], min_offset: u64) -> bool {
    use super::batch::{BASE_OFFSET, LENGTH, VERSION};
    let length =
        u32::from_le_bytes(bytes[LENGTH..LENGTH + 4].try_into().expect("4 bytes")) as usize;
    let base = u64::from_le_bytes(
        bytes[BASE_OFFSET..BASE_OFFSET + 8]
            .try_into()
            .expect("8 bytes"),
    );
    bytes[VERSION] == super::batch::BATCH_VERSION && length <= bytes.len() && base >= min_offset
}
