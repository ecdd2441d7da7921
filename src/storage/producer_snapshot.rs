//! Producer-state snapshots (`<base>.producers`, `storage-format.md`, "Producer
//! snapshot"): the producer state table as of a segment's base offset, written when
//! the segment before it is sealed, so opening a log replays only the batches after
//! the newest snapshot (normally the active segment) instead of the whole log.
//!
//! A snapshot is derived data: one that is missing or fails its CRC is ignored, and the
//! state is rebuilt from an older snapshot or from the batches themselves.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::{Path, PathBuf};

use super::fsutil;
use super::producer_state::{ProducerEntry, ProducerStateTable, SequencedBatch};

/// Magic bytes opening a snapshot.
pub const MAGIC: [u8; 8] = *b"EVLPRD01";
/// File name extension of snapshots.
pub const EXTENSION: &str = "producers";
/// Bytes before the first entry: magic, base offset, entry count.
const HEADER_LEN: usize = 20;
/// Bytes of an entry before its batches.
const ENTRY_LEN: usize = 19;
/// Bytes of one kept batch.
const BATCH_LEN: usize = 24;

/// Path of the snapshot taken at `base_offset` in `dir`.
pub fn path(dir: &Path, base_offset: u64) -> PathBuf {
    dir.join(format!("{base_offset:020}.{EXTENSION}"))
}

/// Encodes `table` as the snapshot at `base_offset` (entries by producer id).
pub fn encode(base_offset: u64, table: &ProducerStateTable) -> Vec<u8> {
    let mut ids: Vec<i64> = table.entries().keys().copied().collect();
    ids.sort_unstable();
    let mut out = Vec::with_capacity(HEADER_LEN + ids.len() * (ENTRY_LEN + BATCH_LEN) + 4);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&base_offset.to_le_bytes());
    out.extend_from_slice(&(ids.len() as u32).to_le_bytes());
    for id in ids {
        let entry = &table.entries()[&id];
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&entry.epoch.to_le_bytes());
        out.extend_from_slice(&entry.last_append_ms.to_le_bytes());
        out.push(entry.batches.len() as u8);
        for b in &entry.batches {
            out.extend_from_slice(&b.first_sequence.to_le_bytes());
            out.extend_from_slice(&b.last_sequence.to_le_bytes());
            out.extend_from_slice(&b.base_offset.to_le_bytes());
            out.extend_from_slice(&b.last_offset.to_le_bytes());
        }
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Reads fixed-width little-endian fields off the front of a byte slice.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
}

/// Decodes a snapshot: its base offset and table, or why it is refused.
pub fn decode(bytes: &[u8]) -> Result<(u64, ProducerStateTable), String> {
    let (body, crc) = bytes.split_last_chunk::<4>().ok_or("snapshot too short")?;
    if crc32fast::hash(body) != u32::from_le_bytes(*crc) {
        return Err("snapshot checksum mismatch".into());
    }
    let mut f = Fields(body);
    let truncated = || "snapshot truncated".to_string();
    if f.take::<8>().ok_or_else(truncated)? != MAGIC {
        return Err("not a producer snapshot".into());
    }
    let base = u64::from_le_bytes(f.take().ok_or_else(truncated)?);
    let count = u32::from_le_bytes(f.take().ok_or_else(truncated)?);
    let mut entries = HashMap::new();
    for _ in 0..count {
        let id = i64::from_le_bytes(f.take().ok_or_else(truncated)?);
        let epoch = i16::from_le_bytes(f.take().ok_or_else(truncated)?);
        let last_append_ms = i64::from_le_bytes(f.take().ok_or_else(truncated)?);
        let [n] = f.take::<1>().ok_or_else(truncated)?;
        let mut batches = VecDeque::with_capacity(usize::from(n));
        for _ in 0..n {
            batches.push_back(SequencedBatch {
                first_sequence: i32::from_le_bytes(f.take().ok_or_else(truncated)?),
                last_sequence: i32::from_le_bytes(f.take().ok_or_else(truncated)?),
                base_offset: u64::from_le_bytes(f.take().ok_or_else(truncated)?),
                last_offset: u64::from_le_bytes(f.take().ok_or_else(truncated)?),
            });
        }
        let entry = ProducerEntry {
            epoch,
            batches,
            last_append_ms,
        };
        entries.insert(id, entry);
    }
    if !f.0.is_empty() {
        return Err("snapshot has bytes past its entries".into());
    }
    Ok((base, ProducerStateTable::from_entries(entries)))
}

/// Writes the snapshot at `base_offset` atomically (temporary file, sync, rename).
pub fn store(dir: &Path, base_offset: u64, table: &ProducerStateTable) -> io::Result<()> {
    fsutil::write_atomic(&path(dir, base_offset), &encode(base_offset, table))
}

/// Base offsets of the snapshots in `dir`, ascending.
pub fn list(dir: &Path) -> io::Result<Vec<u64>> {
    let mut bases: Vec<u64> = std::fs::read_dir(dir)?
        .filter_map(|e| fsutil::parse_file_name(e.ok()?.file_name().to_str()?, EXTENSION))
        .collect();
    bases.sort_unstable();
    Ok(bases)
}

/// The newest valid snapshot in `dir` at or below `upto`: its base and table. Damaged
/// ones are skipped with a warning.
pub fn load_newest(dir: &Path, upto: u64) -> io::Result<Option<(u64, ProducerStateTable)>> {
    for base in list(dir)?.into_iter().rev().filter(|b| *b <= upto) {
        let file = path(dir, base);
        match std::fs::read(&file)
            .map_err(|e| e.to_string())
            .and_then(|b| decode(&b))
        {
            Ok((found, table)) if found == base => return Ok(Some((base, table))),
            Ok(_) => {
                tracing::warn!(path = %file.display(), "producer snapshot names another offset; ignored")
            }
            Err(why) => {
                tracing::warn!(path = %file.display(), %why, "producer snapshot unreadable; ignored")
            }
        }
    }
    Ok(None)
}

/// Removes every snapshot below `keep_from` and above `upto` (after a truncation).
pub fn remove_outside(dir: &Path, keep_from: u64, upto: u64) -> io::Result<()> {
    for base in list(dir)? {
        if base < keep_from || base > upto {
            fsutil::remove_if_exists(&path(dir, base))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::producer_state::ProducerBatch;

    fn sample() -> ProducerStateTable {
        let mut table = ProducerStateTable::default();
        let batch = ProducerBatch {
            producer_id: 7,
            epoch: 2,
            base_sequence: 10,
        };
        table.record(&batch, 3, 100, 102, 1_700_000_000_000);
        table
    }

    /// Pins the snapshot encoding byte for byte (`storage-format.md`, "Producer
    /// snapshot").
    #[test]
    fn golden_bytes() {
        let bytes = encode(103, &sample());
        let expected: &[u8] = &[
            b'E', b'V', b'L', b'P', b'R', b'D', b'0', b'1', // magic
            103, 0, 0, 0, 0, 0, 0, 0, // base offset 103
            1, 0, 0, 0, // 1 producer
            7, 0, 0, 0, 0, 0, 0, 0, // producer id 7
            2, 0, // epoch 2
            0x00, 0x68, 0xe5, 0xcf, 0x8b, 0x01, 0x00, 0x00, // last append
            1,    // 1 batch
            10, 0, 0, 0, 12, 0, 0, 0, // sequences 10..=12
            100, 0, 0, 0, 0, 0, 0, 0, 102, 0, 0, 0, 0, 0, 0, 0, // offsets 100..=102
        ];
        assert_eq!(&bytes[..bytes.len() - 4], expected);
        let crc = crc32fast::hash(expected).to_le_bytes();
        assert_eq!(&bytes[bytes.len() - 4..], &crc);
        assert_eq!(decode(&bytes), Ok((103, sample())));
    }

    #[test]
    fn damage_is_refused_and_the_newest_good_snapshot_wins() {
        let dir = tempfile::tempdir().unwrap();
        store(dir.path(), 50, &ProducerStateTable::default()).unwrap();
        store(dir.path(), 103, &sample()).unwrap();
        store(dir.path(), 200, &sample()).unwrap();
        let mut bytes = std::fs::read(path(dir.path(), 103)).unwrap();
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err());
        }
        bytes[25] ^= 1;
        assert!(decode(&bytes).is_err());
        std::fs::write(path(dir.path(), 103), &bytes).unwrap();
        let (base, table) = load_newest(dir.path(), 150).unwrap().unwrap();
        assert_eq!((base, table), (50, ProducerStateTable::default()));
        remove_outside(dir.path(), 60, 150).unwrap();
        assert_eq!(list(dir.path()).unwrap(), vec![103]);
    }
}
