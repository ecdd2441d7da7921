//! Written zeros ahead of the active segment's end, so that a durable append costs the
//! disk one write instead of two.
//!
//! The active file grows sparsely (`ftruncate`, see [`super::segment::GROW_STEP`]), so
//! every append lands on blocks the file system has not allocated yet. `fdatasync` must
//! then also make the new block mapping durable: on ext4 that is a second, dependent
//! write (the inode or a journal commit) after the data's, and it nearly doubled the
//! time of one small durable append (seen with `perf record -e sched:sched_switch`:
//! `ext4_sync_file` waiting first on the data, then in `ext4_write_inode`). Blocks that
//! already hold written zeros need only their data flushed, as a database's
//! zero-filled log files do. `fallocate` is no help: its unwritten extents change state
//! on the first write, which is again a metadata update.
//!
//! So under a policy that syncs, each append keeps [`ZERO_AHEAD`] bytes past its end
//! filled with zeros, [`ZERO_CHUNK`] at a time, under the writer lock (nothing else
//! writes there, and readers never look past the published end). The zeros reach the
//! disk with the next group commit, once per chunk. Nothing changes in the format:
//! zeros past the last batch are unwritten space, sparse or not. The cost is disk space:
//! an active segment holds up to [`ZERO_AHEAD`] plus a chunk of written zeros past its
//! data, never past its file's length. A failed zero write (a full disk) is not an
//! append failure: the append that needs the space reports it.

use std::os::unix::fs::FileExt;

use super::FsyncPolicy;
use super::log::{Log, Writer};

/// How far past the write position an append keeps written zeros.
pub const ZERO_AHEAD: u64 = 1 << 20;

/// Zeros written at once: large enough that the extra flush comes rarely, small enough
/// that the one commit flushing it is not delayed much (a quarter MiB at the disk's
/// sequential rate is a fraction of one fdatasync).
pub const ZERO_CHUNK: u64 = 256 << 10;

/// The zeros written, shared and never changed.
static ZEROS: [u8; ZERO_CHUNK as usize] = [0; ZERO_CHUNK as usize];

impl Log {
    /// Writes the next chunk of zeros after an append when the write position has come
    /// within [`ZERO_AHEAD`] of the zeros already written (see the module docs). Only
    /// under `always` and `interval`: without syncs the zeros would only double the
    /// writes.
    pub(super) fn zero_ahead(&self, w: &mut Writer, fsync: FsyncPolicy) {
        if fsync == FsyncPolicy::Never {
            return;
        }
        let start = w.zeroed_to.max(w.write_pos);
        let end = (start + ZERO_CHUNK).min(w.file_len);
        if start >= w.write_pos + ZERO_AHEAD || end <= start {
            return;
        }
        let len = (end - start) as usize;
        match w.file.write_all_at(&ZEROS[..len], start) {
            Ok(()) => w.zeroed_to = end,
            Err(error) => {
                tracing::debug!(log = %self.ident, %error, "writing zeros ahead failed");
                // Not again in this step of the file: the next growth tries again.
                w.zeroed_to = w.file_len;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::storage::{FsyncPolicy, Log, LogConfig, LogIdent, ReadLimits, Record};

    fn record(i: usize) -> Record {
        Record {
            value: Some(bytes::Bytes::from(vec![i as u8; 1000])),
            timestamp_ms: i as i64,
            ..Record::default()
        }
    }

    /// Allocated bytes of the file at `path` (`st_blocks` counts 512-byte units).
    fn allocated(path: &std::path::Path) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).unwrap().blocks() * 512
    }

    fn open(dir: &std::path::Path, fsync: FsyncPolicy) -> Log {
        let config = LogConfig {
            fsync,
            ..LogConfig::default()
        };
        Log::open(dir, LogIdent::new("t", 0), config).unwrap()
    }

    fn active_path(log: &Log) -> std::path::PathBuf {
        log.lock_writer().active.path.clone()
    }

    #[test]
    fn a_syncing_log_keeps_written_zeros_ahead_and_reads_back_what_it_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), FsyncPolicy::Always);
        for i in 0..50 {
            log.append(&[record(i)]).unwrap();
        }
        let path = active_path(&log);
        let (write_pos, zeroed_to) = {
            let w = log.lock_writer();
            (w.write_pos, w.zeroed_to)
        };
        assert!(
            zeroed_to >= write_pos + super::ZERO_AHEAD,
            "{zeroed_to} {write_pos}"
        );
        assert!(
            allocated(&path) >= zeroed_to,
            "the zeros are real blocks: {} allocated, {zeroed_to} zeroed",
            allocated(&path)
        );
        let read = log.read(0, ReadLimits::default()).unwrap();
        assert_eq!(read.records.len(), 50);
        assert_eq!(read.records[49].value, record(49).value);
        drop(log);
        // The zeros are unwritten space to recovery: the log reopens where it ended.
        let log = open(dir.path(), FsyncPolicy::Always);
        log.append(&[record(50)]).unwrap();
        let read = log.read(0, ReadLimits::default()).unwrap();
        assert_eq!(read.records.len(), 51);
        assert_eq!(read.records[50].offset, 50);
    }

    #[test]
    fn a_log_that_never_syncs_stays_sparse() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), FsyncPolicy::Never);
        for i in 0..50 {
            log.append(&[record(i)]).unwrap();
        }
        let path = active_path(&log);
        log.sync().unwrap();
        assert!(
            allocated(&path) < super::ZERO_AHEAD,
            "{} bytes allocated",
            allocated(&path)
        );
    }
}
