//! The clean-shutdown marker (`clean-shutdown`): what a clean close knew about the
//! active segment, so the next open can skip scanning it. See `storage-format.md`,
//! "Clean-shutdown marker".
//!
//! Without it every open scans the whole active segment (up to `segment_bytes`), because
//! after a crash only a scan can tell where valid data ends. After a clean close the
//! writer already knew: `close` syncs, trims the file to its data end, and then stores
//! the data end, next offset, largest timestamp and index of the active segment here.
//!
//! Crash safety: the open that reads a marker removes it durably (unlink, directory
//! `fsync`) before anything is written to the log, so a marker on disk always describes
//! files no later writer touched; a crash after that open finds no marker and scans.
//! The marker is trusted only if it agrees with the file: its CRC, the segment's base
//! offset, the file's length (exactly the data end: close trimmed it) and a CRC of the
//! file's last bytes. Anything else falls back to the full scan.

use std::fs::File;
use std::io;
use std::path::Path;

use super::batch::{self, BatchFormat};
use super::error::LogIdent;
use super::fsutil;
use super::index::{self, IndexEntry};
use super::log::{Log, Writer};
use super::pread;
use super::scan::ScanOutcome;
use super::segment::{self, FILE_HEADER_LEN};

/// File name of the marker inside a partition directory.
pub const FILE_NAME: &str = "clean-shutdown";
/// Magic bytes opening the marker.
pub const MAGIC: [u8; 8] = *b"EVLSHUT1";
/// Bytes before the embedded index.
pub const HEADER_LEN: usize = 48;
/// How many bytes at the end of the data the tail CRC covers (fewer in a short file).
pub const TAIL_LEN: u64 = 64 << 10;
/// Counter of opens that skipped the active segment's scan thanks to a marker.
pub const SCANS_SKIPPED: &str = "eventlog_recovery_scans_skipped_total";

/// What a clean close knew about the active segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanShutdown {
    /// The active segment's base offset.
    pub base_offset: u64,
    /// Its data end (header and batches), which is also its file length.
    pub data_len: u64,
    /// One past its last record's offset.
    pub next_offset: u64,
    /// Its largest record timestamp (`i64::MIN` if none).
    pub max_timestamp: i64,
    /// CRC of its last `min(TAIL_LEN, data_len)` bytes.
    pub tail_crc: u32,
    /// Its index entries.
    pub index: Vec<IndexEntry>,
}

impl CleanShutdown {
    /// Encodes the marker; the trailing CRC covers every byte before it.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + 16 * (self.index.len() + 1) + 4);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.base_offset.to_le_bytes());
        out.extend_from_slice(&self.data_len.to_le_bytes());
        out.extend_from_slice(&self.next_offset.to_le_bytes());
        out.extend_from_slice(&self.max_timestamp.to_le_bytes());
        out.extend_from_slice(&self.tail_crc.to_le_bytes());
        out.extend_from_slice(&(self.index.len() as u32).to_le_bytes());
        out.extend_from_slice(&index::encode(self.base_offset, &self.index));
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes a marker, or says why it cannot be trusted.
    pub fn decode(bytes: &[u8]) -> Result<CleanShutdown, String> {
        if bytes.len() < HEADER_LEN + index::FILE_HEADER_LEN + 4 {
            return Err(format!("{} bytes is too short", bytes.len()));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(body).to_le_bytes() != crc {
            return Err("CRC mismatch".into());
        }
        if body[..8] != MAGIC {
            return Err("bad magic".into());
        }
        let u64_at = |at: usize| u64::from_le_bytes(body[at..at + 8].try_into().expect("8"));
        let u32_at = |at: usize| u32::from_le_bytes(body[at..at + 4].try_into().expect("4"));
        let (base_offset, data_len) = (u64_at(8), u64_at(16));
        let index = index::decode(&body[HEADER_LEN..], base_offset, data_len)?;
        if index.len() != u32_at(44) as usize {
            return Err("index entry count mismatch".into());
        }
        Ok(CleanShutdown {
            base_offset,
            data_len,
            next_offset: u64_at(24),
            max_timestamp: u64_at(32) as i64,
            tail_crc: u32_at(40),
            index,
        })
    }

    /// Stores the marker atomically (temporary file, sync, rename, directory sync).
    pub fn store(&self, dir: &Path) -> io::Result<()> {
        fsutil::write_atomic(&dir.join(FILE_NAME), &self.encode())
    }

    /// The scan outcome the marker stands for, if it agrees with the active segment
    /// file at `path` (open, `len` bytes long, at base `base`); else why not.
    pub fn outcome_for(
        &self,
        file: &File,
        path: &Path,
        base: u64,
        len: u64,
    ) -> Result<ScanOutcome, String> {
        if self.base_offset != base {
            return Err(format!(
                "marker is for the segment at {}, the active one starts at {base}",
                self.base_offset
            ));
        }
        if self.data_len != len || len < FILE_HEADER_LEN as u64 {
            return Err(format!(
                "file is {len} bytes, the marker says {}",
                self.data_len
            ));
        }
        let mut header = [0u8; FILE_HEADER_LEN];
        pread::read_exact_at(file, path, &mut header, 0).map_err(|e| e.to_string())?;
        let Some(format) =
            BatchFormat::of_segment(&header).filter(|f| header == segment::file_header(*f, base))
        else {
            return Err("segment header does not match".into());
        };
        if tail_crc(file, path, len).map_err(|e| e.to_string())? != self.tail_crc {
            return Err("the file's last bytes differ from the marker's CRC".into());
        }
        Ok(ScanOutcome {
            valid_end: self.data_len,
            next_offset: self.next_offset,
            max_timestamp: self.max_timestamp,
            first_timestamp: first_timestamp(format, file, path, len)?,
            index: self.index.clone(),
            damage: Vec::new(),
            torn_tail_end: None,
        })
    }
}

/// The first record's timestamp of the segment's first batch, read from its header:
/// the marker does not store it, and the segment's age after a restart needs it. An
/// unchecked header read only affects when the segment rolls by age; the scrub still
/// checks the batch's CRC.
fn first_timestamp(
    format: BatchFormat,
    file: &File,
    path: &Path,
    len: u64,
) -> Result<Option<i64>, String> {
    let start = FILE_HEADER_LEN as u64;
    if len < start + format.header_len() as u64 {
        return Ok(None);
    }
    let mut header = vec![0u8; format.header_len()];
    pread::read_exact_at(file, path, &mut header, start).map_err(|e| e.to_string())?;
    let field = |at: usize| -> [u8; 8] { header[at..at + 8].try_into().expect("8 bytes") };
    Ok(Some(match format {
        BatchFormat::V1 => i64::from_le_bytes(field(batch::v1::FIRST_TIMESTAMP)),
        BatchFormat::V2 => i64::from_be_bytes(field(batch::v2::BASE_TIMESTAMP)),
    }))
}

impl Log {
    /// Stores the marker for the writer's active segment, at a clean close: after the
    /// final sync, with the file trimmed to its data end, and with the log closed to
    /// appends. Skipped when recovery found damage in the active segment, so the next
    /// open scans it again and readers learn where the damage is. A failure only costs
    /// the next open a scan.
    pub(crate) fn store_clean_shutdown(&self, w: &Writer) {
        let path = &w.active.path;
        if self
            .recovery_report()
            .damage
            .iter()
            .any(|(p, ..)| p == path)
        {
            return;
        }
        let stored = tail_crc(&w.file, path, w.write_pos)
            .map_err(|e| io::Error::new(e.source.kind(), e))
            .and_then(|tail_crc| {
                CleanShutdown {
                    base_offset: w.active.base_offset,
                    data_len: w.write_pos,
                    next_offset: w.next_offset,
                    max_timestamp: w.index.max_timestamp(),
                    tail_crc,
                    index: w.index.entries.clone(),
                }
                .store(&self.dir)
            });
        if let Err(error) = stored {
            tracing::warn!(log = %self.ident, %error, "cannot store the clean-shutdown marker; the next open scans the active segment");
        }
    }
}

/// CRC of the last `min(TAIL_LEN, len)` bytes of the first `len` bytes of `file`.
pub fn tail_crc(file: &File, path: &Path, len: u64) -> Result<u32, pread::FileReadError> {
    let from = len.saturating_sub(TAIL_LEN);
    let mut buf = vec![0u8; (len - from) as usize];
    pread::read_exact_at(file, path, &mut buf, from)?;
    Ok(crc32fast::hash(&buf))
}

/// Reads the marker in `dir` and removes it durably, before the open writes anything:
/// from then on the directory holds no marker until the next clean close. A marker
/// that cannot be decoded is logged and ignored (`None`); failing to remove it fails
/// the open, since a marker left behind could describe files a later crash changed.
pub fn take(dir: &Path, ident: &LogIdent) -> io::Result<Option<CleanShutdown>> {
    let path = dir.join(FILE_NAME);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            tracing::warn!(log = %ident, path = %path.display(), error = %e, "cannot read the clean-shutdown marker; scanning the active segment");
            Vec::new()
        }
    };
    std::fs::remove_file(&path)?;
    fsutil::sync_dir(dir)?;
    match CleanShutdown::decode(&bytes) {
        Ok(marker) => Ok(Some(marker)),
        Err(why) => {
            tracing::warn!(log = %ident, path = %path.display(), %why, "clean-shutdown marker damaged; scanning the active segment");
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CleanShutdown {
        CleanShutdown {
            base_offset: 5,
            data_len: 4200,
            next_offset: 9,
            max_timestamp: 1_700_000_000_001,
            tail_crc: 0xdead_beef,
            index: vec![IndexEntry {
                rel_offset: 2,
                position: 4100,
                max_ts_before: 1_700_000_000_000,
            }],
        }
    }

    #[test]
    fn golden_bytes() {
        let bytes = sample().encode();
        let expected: Vec<u8> = [
            &b"EVLSHUT1"[..],
            &[5, 0, 0, 0, 0, 0, 0, 0],                // base offset 5
            &[0x68, 0x10, 0, 0, 0, 0, 0, 0],          // data length 4200
            &[9, 0, 0, 0, 0, 0, 0, 0],                // next offset 9
            &[0x01, 0x68, 0xe5, 0xcf, 0x8b, 1, 0, 0], // max timestamp
            &[0xef, 0xbe, 0xad, 0xde],                // tail CRC
            &[1, 0, 0, 0],                            // 1 index entry
            &b"EVLINDX1"[..],
            &[5, 0, 0, 0, 0, 0, 0, 0], // the index's base offset
            &[2, 0, 0, 0, 0x04, 0x10, 0, 0],
            &[0x00, 0x68, 0xe5, 0xcf, 0x8b, 1, 0, 0],
        ]
        .concat();
        assert_eq!(&bytes[..bytes.len() - 4], &expected[..]);
        let crc = crc32fast::hash(&expected).to_le_bytes();
        assert_eq!(&bytes[bytes.len() - 4..], &crc[..]);
        assert_eq!(CleanShutdown::decode(&bytes), Ok(sample()));
    }

    #[test]
    fn a_flipped_bit_or_a_cut_marker_is_refused() {
        let bytes = sample().encode();
        for at in [0, 9, 20, 45, 60, bytes.len() - 1] {
            let mut bad = bytes.clone();
            bad[at] ^= 0x10;
            assert!(CleanShutdown::decode(&bad).is_err(), "flip at {at}");
        }
        assert!(CleanShutdown::decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(CleanShutdown::decode(&[]).is_err());
    }
}
