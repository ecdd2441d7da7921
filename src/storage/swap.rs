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
        self.write(dir)?;
        self.apply(dir)
    }

    /// Stores the intent (the commit point) without carrying it out. Before the rename
    /// nothing changed; after it, recovery would carry the intent out.
    pub(crate) fn write(&self, dir: &Path) -> Result<(), fsutil::AtomicWriteError> {
        fsutil::replace_atomic(&dir.join(INTENT_FILE), &self.encode())
    }

    /// Carries out a stored intent.
    pub(crate) fn apply(&self, dir: &Path) -> io::Result<()> {
        self.steps(dir).iter().try_for_each(Step::run)
    }

    /// The file operations that carry out a committed intent, in order. Each is
    /// idempotent, so a crash after any prefix of them is finished by running all.
    fn steps(&self, dir: &Path) -> Vec<Step> {
        let mut steps = Vec::new();
        for base in self.remove.iter().filter(|b| !self.install.contains(b)) {
            steps.push(Step::Remove(dir.join(fsutil::segment_file_name(*base))));
            steps.push(Step::Remove(dir.join(fsutil::index_file_name(*base))));
        }
        for base in &self.install {
            for name in [
                fsutil::segment_file_name(*base),
                fsutil::index_file_name(*base),
            ] {
                steps.push(Step::Rename(
                    dir.join(format!("{name}.swap")),
                    dir.join(name),
                ));
            }
        }
        steps.push(Step::Checkpoint(dir.to_path_buf(), self.checkpoint.clone()));
        steps.push(Step::Remove(dir.join(INTENT_FILE)));
        steps.push(Step::SyncDir(dir.to_path_buf()));
        steps
    }
}

/// One idempotent file operation of a swap.
#[derive(Debug)]
enum Step {
    Remove(std::path::PathBuf),
    Rename(std::path::PathBuf, std::path::PathBuf),
    Checkpoint(std::path::PathBuf, Checkpoint),
    SyncDir(std::path::PathBuf),
}

impl Step {
    fn run(&self) -> io::Result<()> {
        match self {
            Step::Remove(path) => fsutil::remove_if_exists(path),
            Step::Rename(from, to) => match std::fs::rename(from, to) {
                // Already renamed by an earlier, interrupted run.
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                other => other,
            },
            Step::Checkpoint(dir, checkpoint) => checkpoint.store(dir),
            Step::SyncDir(dir) => fsutil::sync_dir(dir),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::checkpoint::SealedEntry;

    fn entry(base: u64, next: u64) -> SealedEntry {
        SealedEntry {
            base_offset: base,
            next_offset: next,
            data_len: 16,
            max_timestamp: 0,
            index_crc: 0,
            index_entries: 0,
        }
    }

    /// Lays out a directory as it is right after the commit point: old segments 0 and
    /// 10, the merged replacement for both as `.swap` files, and the intent.
    fn committed_dir() -> (tempfile::TempDir, Intent) {
        let dir = tempfile::tempdir().unwrap();
        let p = |name: &str| dir.path().join(name);
        for base in [0u64, 10] {
            std::fs::write(
                p(&fsutil::segment_file_name(base)),
                format!("old log {base}"),
            )
            .unwrap();
            std::fs::write(
                p(&fsutil::index_file_name(base)),
                format!("old index {base}"),
            )
            .unwrap();
        }
        std::fs::write(
            p(&format!("{}.swap", fsutil::segment_file_name(0))),
            "new log",
        )
        .unwrap();
        std::fs::write(
            p(&format!("{}.swap", fsutil::index_file_name(0))),
            "new index",
        )
        .unwrap();
        let intent = Intent {
            remove: vec![0, 10],
            install: vec![0],
            checkpoint: Checkpoint {
                log_start_offset: 0,
                sealed: vec![entry(0, 20)],
            },
        };
        fsutil::write_atomic(&p(INTENT_FILE), &intent.encode()).unwrap();
        (dir, intent)
    }

    fn assert_after(dir: &Path, intent: &Intent) {
        let read = |name: String| std::fs::read_to_string(dir.join(name)).ok();
        assert_eq!(
            read(fsutil::segment_file_name(0)).as_deref(),
            Some("new log")
        );
        assert_eq!(
            read(fsutil::index_file_name(0)).as_deref(),
            Some("new index")
        );
        assert_eq!(read(fsutil::segment_file_name(10)), None);
        assert_eq!(read(fsutil::index_file_name(10)), None);
        assert!(!dir.join(INTENT_FILE).exists());
        assert_eq!(
            Checkpoint::load(dir).unwrap().unwrap().unwrap(),
            intent.checkpoint
        );
    }

    #[test]
    fn a_crash_after_any_step_is_finished_by_roll_forward() {
        let (probe, intent) = committed_dir();
        let total = intent.steps(probe.path()).len();
        for done in 0..=total {
            let (dir, intent) = committed_dir();
            for step in intent.steps(dir.path()).iter().take(done) {
                step.run().unwrap();
            }
            roll_forward(dir.path()).unwrap();
            assert_after(dir.path(), &intent);
            // Rolling forward twice is harmless.
            roll_forward(dir.path()).unwrap();
            assert_after(dir.path(), &intent);
        }
    }

    #[test]
    fn a_damaged_intent_is_an_error_not_a_guess() {
        let (dir, _) = committed_dir();
        let path = dir.path().join(INTENT_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[10] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(
            roll_forward(dir.path()).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }
}
