//! The partition checkpoint: the list of sealed segments and the log start offset,
//! rewritten atomically (temporary file, fsync, rename, fsync directory) whenever the
//! set of sealed segments changes. Opening a log trusts the segments it lists without
//! reading them, so restart time does not grow with the number of sealed segments.
//! See `storage-format.md`, "Checkpoint".

use std::io;
use std::path::Path;

use super::fsutil;

/// File name of the checkpoint inside a partition directory.
pub const FILE_NAME: &str = "checkpoint";
/// Magic bytes opening a checkpoint.
pub const MAGIC: [u8; 8] = *b"EVLCKPT1";
/// Bytes before the first entry.
pub const HEADER_LEN: usize = 24;
/// Bytes per sealed-segment entry.
pub const ENTRY_LEN: usize = 40;

/// What the checkpoint records about one sealed segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealedEntry {
    /// Base offset (the file name).
    pub base_offset: u64,
    /// One past the last offset the segment covers (the next segment's base).
    pub next_offset: u64,
    /// Bytes of valid data in the file, header included (the committed end).
    pub data_len: u64,
    /// Largest record timestamp in the segment (`i64::MIN` if empty).
    pub max_timestamp: i64,
    /// CRC-32 of the whole index file.
    pub index_crc: u32,
    /// Number of entries in the index file.
    pub index_entries: u32,
}

/// The decoded checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Checkpoint {
    /// First readable offset.
    pub log_start_offset: u64,
    /// Sealed segments in base-offset order.
    pub sealed: Vec<SealedEntry>,
}

impl Checkpoint {
    /// Encodes the checkpoint; the trailing CRC covers every byte before it.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.sealed.len() * ENTRY_LEN + 4);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&(self.sealed.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.log_start_offset.to_le_bytes());
        for e in &self.sealed {
            out.extend_from_slice(&e.base_offset.to_le_bytes());
            out.extend_from_slice(&e.next_offset.to_le_bytes());
            out.extend_from_slice(&e.data_len.to_le_bytes());
            out.extend_from_slice(&e.max_timestamp.to_le_bytes());
            out.extend_from_slice(&e.index_crc.to_le_bytes());
            out.extend_from_slice(&e.index_entries.to_le_bytes());
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes a checkpoint, refusing anything whose CRC, size or ordering is off.
    pub fn decode(bytes: &[u8]) -> Result<Checkpoint, String> {
        if bytes.len() < HEADER_LEN + 4 || bytes[..8] != MAGIC {
            return Err("missing or foreign checkpoint header".into());
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(body).to_le_bytes() != crc {
            return Err("checkpoint crc mismatch".into());
        }
        let u64_at = |at: usize| u64::from_le_bytes(body[at..at + 8].try_into().expect("8 bytes"));
        let u32_at = |at: usize| u32::from_le_bytes(body[at..at + 4].try_into().expect("4 bytes"));
        if body[8..10] != 1u16.to_le_bytes() || body[10..12] != [0, 0] {
            return Err("unknown checkpoint version or flags".into());
        }
        let count = u32_at(12) as usize;
        if body.len() != HEADER_LEN + count * ENTRY_LEN {
            return Err("checkpoint length does not match its entry count".into());
        }
        let sealed: Vec<SealedEntry> = (0..count)
            .map(|i| {
                let at = HEADER_LEN + i * ENTRY_LEN;
                SealedEntry {
                    base_offset: u64_at(at),
                    next_offset: u64_at(at + 8),
                    data_len: u64_at(at + 16),
                    max_timestamp: u64_at(at + 24) as i64,
                    index_crc: u32_at(at + 32),
                    index_entries: u32_at(at + 36),
                }
            })
            .collect();
        let contiguous = sealed
            .windows(2)
            .all(|w| w[0].next_offset == w[1].base_offset);
        let sane = sealed.iter().all(|e| e.base_offset <= e.next_offset);
        if !contiguous || !sane {
            return Err("checkpoint segments are not contiguous".into());
        }
        Ok(Checkpoint {
            log_start_offset: u64_at(16),
            sealed,
        })
    }

    /// Reads the checkpoint in `dir`: `Ok(None)` if there is none, `Err` text if damaged.
    pub fn load(dir: &Path) -> io::Result<Option<Result<Checkpoint, String>>> {
        match std::fs::read(dir.join(FILE_NAME)) {
            Ok(bytes) => Ok(Some(Checkpoint::decode(&bytes))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces the checkpoint in `dir` atomically.
    pub fn store(&self, dir: &Path) -> io::Result<()> {
        fsutil::write_atomic(&dir.join(FILE_NAME), &self.encode())
    }

    /// [`Checkpoint::store`], telling whether a failure came before the rename (the old
    /// checkpoint stands) or after it (the new one is in place, maybe not durable).
    pub fn store_checked(&self, dir: &Path) -> Result<(), fsutil::AtomicWriteError> {
        fsutil::replace_atomic(&dir.join(FILE_NAME), &self.encode())
    }

    /// Offset where the active segment starts: after the last sealed segment.
    pub fn active_base(&self) -> u64 {
        self.sealed
            .last()
            .map_or(self.log_start_offset, |e| e.next_offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        let entry = |base, next| SealedEntry {
            base_offset: base,
            next_offset: next,
            data_len: 1000,
            max_timestamp: -5,
            index_crc: 0xdead_beef,
            index_entries: 3,
        };
        Checkpoint {
            log_start_offset: 10,
            sealed: vec![entry(10, 20), entry(20, 35)],
        }
    }

    #[test]
    fn round_trip_and_every_flipped_bit_is_refused() {
        let bytes = sample().encode();
        assert_eq!(Checkpoint::decode(&bytes).unwrap(), sample());
        for bit in 0..bytes.len() * 8 {
            let mut bad = bytes.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(Checkpoint::decode(&bad).is_err(), "bit {bit} accepted");
        }
        for cut in 0..bytes.len() {
            assert!(
                Checkpoint::decode(&bytes[..cut]).is_err(),
                "cut at {cut} accepted"
            );
        }
    }

    #[test]
    fn active_base_follows_the_last_sealed_segment() {
        assert_eq!(sample().active_base(), 35);
        assert_eq!(
            Checkpoint {
                log_start_offset: 7,
                sealed: vec![]
            }
            .active_base(),
            7
        );
    }
}
