//! The sparse index of a segment: one entry every `index_interval_bytes` of batches,
//! serving both lookups by offset and by timestamp (see `storage-format.md`, "Index").
//!
//! Each entry marks the start of a batch and carries the largest timestamp of every
//! record *before* that batch in the segment. That running maximum never decreases,
//! so "first record with timestamp ≥ T" is a binary search (the last entry whose
//! running maximum is below T) plus a scan of at most one interval.

use super::batch::BatchHeader;

/// Magic bytes opening an index file.
pub const MAGIC: [u8; 8] = *b"EVLINDX1";
/// Bytes before the first entry: magic, then the segment's base offset.
pub const FILE_HEADER_LEN: usize = 16;
/// Bytes per entry.
pub const ENTRY_LEN: usize = 16;

/// One index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// Base offset of the batch minus the segment's base offset.
    pub rel_offset: u32,
    /// Byte position of the batch in the segment file.
    pub position: u32,
    /// Largest record timestamp before this batch in the segment (`i64::MIN` if none).
    pub max_ts_before: i64,
}

/// Builds the entries of one segment as batches are appended or scanned.
#[derive(Debug, Clone)]
pub struct IndexBuilder {
    base_offset: u64,
    interval: u64,
    last_indexed: u64,
    max_ts: i64,
    /// Entries so far.
    pub entries: Vec<IndexEntry>,
}

impl IndexBuilder {
    /// Starts an index for a segment whose first batch is at `first_position`.
    pub fn new(base_offset: u64, interval: u32, first_position: u64) -> Self {
        IndexBuilder {
            base_offset,
            interval: u64::from(interval),
            last_indexed: first_position,
            max_ts: i64::MIN,
            entries: Vec::new(),
        }
    }

    /// Records the batch at `position`; returns the entry if one was added.
    pub fn observe(&mut self, position: u64, header: &BatchHeader) -> Option<IndexEntry> {
        let mut added = None;
        if position - self.last_indexed >= self.interval {
            let entry = IndexEntry {
                rel_offset: (header.base_offset - self.base_offset) as u32,
                position: position as u32,
                max_ts_before: self.max_ts,
            };
            self.entries.push(entry);
            self.last_indexed = position;
            added = Some(entry);
        }
        self.max_ts = self.max_ts.max(header.max_timestamp);
        added
    }

    /// Continues an index recovered by a scan: the next entry is due one interval
    /// after the last recovered entry; `max_ts` is the largest timestamp scanned.
    pub fn resume(&mut self, entries: Vec<IndexEntry>, max_ts: i64) {
        if let Some(last) = entries.last() {
            self.last_indexed = u64::from(last.position);
        }
        self.entries = entries;
        self.max_ts = max_ts;
    }

    /// Largest timestamp observed so far.
    pub fn max_timestamp(&self) -> i64 {
        self.max_ts
    }
}

/// Position to start scanning for offset `base + rel`: the last entry at or below it.
pub fn position_for_offset(entries: &[IndexEntry], rel: u64) -> Option<u32> {
    let n = entries.partition_point(|e| u64::from(e.rel_offset) <= rel);
    n.checked_sub(1).map(|i| entries[i].position)
}

/// Entry to start scanning at for the first record with timestamp ≥ `ts`
/// (`None`: start at the segment's first batch).
pub fn entry_for_timestamp(entries: &[IndexEntry], ts: i64) -> Option<IndexEntry> {
    let n = entries.partition_point(|e| e.max_ts_before < ts);
    n.checked_sub(1).map(|i| entries[i])
}

/// The first entry strictly after `position`, used to resume past a damaged batch.
pub fn entry_after(entries: &[IndexEntry], position: u64) -> Option<IndexEntry> {
    let n = entries.partition_point(|e| u64::from(e.position) <= position);
    entries.get(n).copied()
}

/// Encodes an index file.
pub fn encode(base_offset: u64, entries: &[IndexEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FILE_HEADER_LEN + entries.len() * ENTRY_LEN);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&base_offset.to_le_bytes());
    for e in entries {
        out.extend_from_slice(&e.rel_offset.to_le_bytes());
        out.extend_from_slice(&e.position.to_le_bytes());
        out.extend_from_slice(&e.max_ts_before.to_le_bytes());
    }
    out
}

/// Decodes an index file, checking its header and that entries are ordered and
/// point inside `data_len` bytes of segment data.
pub fn decode(bytes: &[u8], base_offset: u64, data_len: u64) -> Result<Vec<IndexEntry>, String> {
    if bytes.len() < FILE_HEADER_LEN || bytes[..8] != MAGIC {
        return Err("missing or foreign index header".into());
    }
    if bytes[8..16] != base_offset.to_le_bytes() {
        return Err("index belongs to another segment".into());
    }
    let body = &bytes[FILE_HEADER_LEN..];
    if !body.len().is_multiple_of(ENTRY_LEN) {
        return Err(format!(
            "index body of {} bytes is not whole entries",
            body.len()
        ));
    }
    let entries: Vec<IndexEntry> = body
        .chunks_exact(ENTRY_LEN)
        .map(|c| IndexEntry {
            rel_offset: u32::from_le_bytes(c[0..4].try_into().expect("4 bytes")),
            position: u32::from_le_bytes(c[4..8].try_into().expect("4 bytes")),
            max_ts_before: i64::from_le_bytes(c[8..16].try_into().expect("8 bytes")),
        })
        .collect();
    let ordered = entries.windows(2).all(|w| {
        w[0].rel_offset < w[1].rel_offset
            && w[0].position < w[1].position
            && w[0].max_ts_before <= w[1].max_ts_before
    });
    let inside = entries
        .last()
        .is_none_or(|e| u64::from(e.position) < data_len)
        && entries
            .first()
            .is_none_or(|e| e.position as usize >= super::segment::FILE_HEADER_LEN);
    if !ordered || !inside {
        return Err("index entries are out of order or past the data".into());
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(base: u64, max_ts: i64) -> BatchHeader {
        BatchHeader {
            length: 100,
            base_offset: base,
            last_offset_delta: 0,
            record_count: 1,
            first_timestamp: max_ts,
            max_timestamp: max_ts,
            leader_epoch: 0,
            attributes: 0,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
        }
    }

    #[test]
    fn entries_every_interval_and_lookups() {
        let mut b = IndexBuilder::new(1000, 250, 16);
        for i in 0..10u64 {
            b.observe(16 + i * 100, &header(1000 + i, 10 * i as i64));
        }
        // Batches at 16,116,...; entries when ≥ 250 bytes since the last entry.
        let positions: Vec<u32> = b.entries.iter().map(|e| e.position).collect();
        assert_eq!(positions, vec![316, 616, 916]);
        assert_eq!(position_for_offset(&b.entries, 2), None);
        assert_eq!(position_for_offset(&b.entries, 3), Some(316));
        assert_eq!(position_for_offset(&b.entries, 7), Some(616));
        // Entry at 616 (batch 6) has max_ts_before 50: first ts ≥ 55 is after it.
        assert_eq!(
            entry_for_timestamp(&b.entries, 55).map(|e| e.position),
            Some(616)
        );
        assert_eq!(entry_for_timestamp(&b.entries, 0), None);
        assert_eq!(entry_after(&b.entries, 316).map(|e| e.position), Some(616));
    }

    #[test]
    fn encode_decode_round_trip_and_rejects_damage() {
        let mut b = IndexBuilder::new(7, 1, 16);
        for i in 0..5u64 {
            b.observe(16 + i * 50, &header(7 + i, i as i64));
        }
        let bytes = encode(7, &b.entries);
        assert_eq!(decode(&bytes, 7, 1000).unwrap(), b.entries);
        assert!(decode(&bytes, 8, 1000).is_err());
        assert!(decode(&bytes[..bytes.len() - 3], 7, 1000).is_err());
        assert!(decode(&bytes, 7, 100).is_err());
        let mut zeroed = bytes.clone();
        zeroed[FILE_HEADER_LEN..].fill(0);
        assert!(decode(&zeroed, 7, 1000).is_err());
    }
}
