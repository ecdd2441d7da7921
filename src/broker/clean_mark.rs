//! How far a partition's sealed segments were last compacted: the "clean mark", kept in
//! memory and in a small file `cleaned-to` in the partition directory so a restart does
//! not compact everything again.
//!
//! Background compaction compares the bytes of sealed segments above the mark (dirty:
//! written since the last compaction) with all sealed bytes. The file is only a hint: a
//! missing or damaged file reads as "nothing compacted yet", which costs one early
//! compaction and never loses data.
//!
//! Layout (little-endian): magic `EVLCLN01` (8 bytes), offset `u64`, CRC-32 `u32` of the
//! 16 bytes before it. Written with write-temporary, fsync, rename, fsync directory.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::storage::fsutil;

/// Name of the file inside the partition directory.
pub const FILE_NAME: &str = "cleaned-to";
const MAGIC: &[u8; 8] = b"EVLCLN01";
const LEN: usize = 20;

/// A partition's compaction bookkeeping, guarded by the partition's maintenance lock.
#[derive(Debug)]
pub struct CleanMark {
    path: PathBuf,
    /// Every sealed record below this offset was covered by the last compaction's key map.
    pub cleaned_to: u64,
    /// After a failed background compaction, when to try again (not before).
    pub retry_after: Option<Instant>,
}

impl CleanMark {
    /// Loads the mark of the partition stored in `dir` (0 when absent or unreadable).
    pub fn load(dir: &Path) -> CleanMark {
        let path = dir.join(FILE_NAME);
        let cleaned_to = match std::fs::read(&path) {
            Ok(bytes) => decode(&bytes).unwrap_or_else(|| {
                tracing::warn!(path = %path.display(), "damaged clean mark ignored; the partition will be compacted from the start");
                0
            }),
            Err(_) => 0,
        };
        CleanMark {
            path,
            cleaned_to,
            retry_after: None,
        }
    }

    /// Records that everything sealed below `offset` is compacted, in memory and on disk.
    /// A failed write is logged, not returned: the compaction itself has committed.
    pub fn advance(&mut self, offset: u64) {
        self.cleaned_to = offset;
        if let Err(error) = fsutil::write_atomic(&self.path, &encode(offset)) {
            tracing::warn!(path = %self.path.display(), %error, "could not store the clean mark; the next start may compact again");
        }
    }
}

fn encode(offset: u64) -> [u8; LEN] {
    let mut out = [0u8; LEN];
    out[..8].copy_from_slice(MAGIC);
    out[8..16].copy_from_slice(&offset.to_le_bytes());
    let crc = crc32fast::hash(&out[..16]);
    out[16..].copy_from_slice(&crc.to_le_bytes());
    out
}

fn decode(bytes: &[u8]) -> Option<u64> {
    let bytes: &[u8; LEN] = bytes.try_into().ok()?;
    let crc = u32::from_le_bytes(bytes[16..].try_into().ok()?);
    (&bytes[..8] == MAGIC && crc32fast::hash(&bytes[..16]) == crc)
        .then(|| u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_a_reload_and_ignores_damage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(CleanMark::load(dir.path()).cleaned_to, 0);
        CleanMark::load(dir.path()).advance(4711);
        assert_eq!(CleanMark::load(dir.path()).cleaned_to, 4711);
        let mut bytes = std::fs::read(dir.path().join(FILE_NAME)).unwrap();
        bytes[9] ^= 1;
        std::fs::write(dir.path().join(FILE_NAME), bytes).unwrap();
        assert_eq!(CleanMark::load(dir.path()).cleaned_to, 0);
    }
}
