//! Replacing segments atomically (compaction, truncation) with a roll-forward intent.
//!
//! Protocol (see `storage-format.md`, "Replacing segments"):
//! 1. write every new segment as `<base>.log.swap` / `<base>.index.swap`, fsync each;
//! 2. write the intent — the segments to remove, the ones to install and the complete
//!    checkpoint that describes the result — with `write_atomic`: **the commit point**;
//! 3. unlink removed segments, rename each `.swap` over its final name, store the
//!    checkpoint, delete the intent, fsync the directory.
//!
//! A crash before step 2 leaves stray `.swap` files that opening deletes (the log is as
//! before). A crash after it is finished by [`roll_forward`] on the next open (the log
//! is as after). Every step of the roll-forward is idempotent.

use std::io;
use std::path::Path;

use super::checkpoint::Checkpoint;
use super::fsutil;

/// File name of a pending intent.
pub const INTENT_FILE: &str = "swap.intent";
const MAGIC: [u8; 8] = *b"EVLSWAP1";

/// A committed replacement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    /// Base offsets whose files are deleted.
    pub remove: Vec<u64>,
    /// Base offsets whose `.swap` files are renamed into place.
    pub install: Vec<u64>,
    /// The checkpoint describing the result.
    pub checkpoint: Checkpoint,
}

impl Intent {
    fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        for list in [&self.remove, &self.install] {
            out.extend_from_slice(&(list.len() as u32).to_le_bytes());
            for base in list {
                out.extend_from_slice(&base.to_le_bytes());
            }
        }
        out.extend_from_slice(&self.checkpoint.encode());
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Result<Intent, String> {
        if bytes.len() < 20 || bytes[..8] != MAGIC {
            return Err("not a swap intent".into());
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(body).to_le_bytes() != crc {
            return Err("swap intent crc mismatch".into());
        }
        let mut at = 8;
        let mut lists = [Vec::new(), Vec::new()];
        for list in &mut lists {
            let n = read_u32(body, at)? as usize;
            at += 4;
            for _ in 0..n {
                list.push(u64::from_le_bytes(
                    body.get(at..at + 8)
                        .ok_or("short intent")?
                        .try_into()
                        .expect("8"),
                ));
                at += 8;
            }
        }
        let checkpoint = Checkpoint::decode(&body[at..])?;
        let [remove, install] = lists;
        Ok(Intent {
            remove,
            install,
            checkpoint,
        })
    }

    /// Commits the replacement (step 2) and carries it out (step 3).
    pub fn commit(&self, dir: &Path) -> io::Result<()> {
        fsutil::write_atomic(&dir.join(INTENT_FILE), &self.encode())?;
        self.apply(dir)
    }

    fn apply(&self, dir: &Path) -> io::Result<()> {
        for base in self.remove.iter().filter(|b| !self.install.contains(b)) {
            fsutil::remove_if_exists(&dir.join(fsutil::segment_file_name(*base)))?;
            fsutil::remove_if_exists(&dir.join(fsutil::index_file_name(*base)))?;
        }
        for base in &self.install {
            for name in [
                fsutil::segment_file_name(*base),
                fsutil::index_file_name(*base),
            ] {
                let final_path = dir.join(&name);
                match std::fs::rename(dir.join(format!("{name}.swap")), &final_path) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
        }
        self.checkpoint.store(dir)?;
        fsutil::remove_if_exists(&dir.join(INTENT_FILE))?;
        fsutil::sync_dir(dir)
    }
}

fn read_u32(bytes: &[u8], at: usize) -> Result<u32, String> {
    let b = bytes.get(at..at + 4).ok_or("short intent")?;
    Ok(u32::from_le_bytes(b.try_into().expect("4")))
}

/// Finishes a replacement whose intent was committed before a crash.
pub fn roll_forward(dir: &Path) -> io::Result<()> {
    let path = dir.join(INTENT_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    match Intent::decode(&bytes) {
        Ok(intent) => {
            tracing::info!(dir = %dir.display(), "finishing an interrupted segment replacement");
            intent.apply(dir)
        }
        // The intent is written atomically, so a bad one was damaged after the fact.
        Err(why) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {why}", path.display()),
        )),
    }
}
