//! Starting a log again, empty, at a given offset: what a replica does when its group's
//! leader no longer holds the entries it lacks and sends it its log start instead
//! (a Raft snapshot of a partition is its position, not its data).
//!
//! Like truncation, it commits through a swap intent that removes every segment and
//! names the new log start, so a crash leaves the old log or an empty one that starts
//! at the new offset (recovery finishes the intent and creates the segment there).

use std::sync::atomic::Ordering;

use super::checkpoint::Checkpoint;
use super::error::MaintenanceError;
use super::log::Log;
use super::swap::Intent;

impl Log {
    /// Removes every record and makes `offset` both the log start and the next offset
    /// to append. Producer state goes with the records.
    pub fn reset_to(&self, offset: u64) -> Result<(), MaintenanceError> {
        if self.poison.get().is_some() {
            return Err(MaintenanceError::Poisoned {
                log: self.ident.clone(),
            });
        }
        // As for truncation: nothing written may still wait for its fsync, or an
        // appender could be acknowledged for a batch this removes.
        let mut w = loop {
            self.sync()?;
            let w = self.lock_writer();
            if self.durable.load(Ordering::Acquire) >= w.next_offset {
                break w;
            }
        };
        let segments = self.segment_list();
        let records = w.next_offset.saturating_sub(self.log_start_offset());
        let checkpoint = Checkpoint {
            log_start_offset: offset,
            sealed: Vec::new(),
        };
        let intent = Intent {
            remove: segments.iter().map(|s| s.base_offset).collect(),
            install: Vec::new(),
            checkpoint: checkpoint.clone(),
        };
        self.commit_swap(&intent, &segments)?;
        w.checkpoint = checkpoint;
        // Log start first, as retention does: a reader that sees the new segments sees
        // the new start too.
        self.log_start.store(offset, Ordering::Release);
        self.install_active(&mut w, offset, Vec::new())?;
        self.truncate_producers(&mut w, 0);
        tracing::info!(
            log = %self.ident,
            dir = %self.dir.display(),
            records_removed = records,
            log_start = offset,
            "started the log again at a new offset"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::storage::{Log, LogConfig, LogIdent, ReadLimits, Record};

    fn config() -> LogConfig {
        LogConfig::default()
    }

    fn record(value: &str) -> Record {
        Record {
            value: Some(value.to_string().into_bytes().into()),
            ..Record::default()
        }
    }

    /// Appends `n` records, rolling a segment every ten.
    fn fill(log: &Log, n: usize) {
        for i in 0..n {
            log.append(&[record(&format!("record {i:04}"))]).unwrap();
            if i % 10 == 9 {
                log.roll().unwrap();
            }
        }
    }

    #[test]
    fn a_reset_log_is_empty_at_the_new_offset_and_appends_from_there() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), LogIdent::new("t", 0), config()).unwrap();
        fill(&log, 100);
        assert!(
            log.segment_infos().len() > 2,
            "the test needs several segments"
        );
        log.reset_to(5_000).unwrap();
        assert_eq!(log.log_start_offset(), 5_000);
        assert_eq!(log.next_offset(), 5_000);
        assert_eq!(log.high_watermark(), 5_000);
        assert!(
            log.read(10, ReadLimits::default()).is_err(),
            "old records are gone"
        );
        let info = log.append(&[record("after")]).unwrap();
        assert_eq!(info.base_offset, 5_000);
        drop(log);

        let log = Log::open(dir.path(), LogIdent::new("t", 0), config()).unwrap();
        assert_eq!(log.log_start_offset(), 5_000);
        assert_eq!(log.next_offset(), 5_001);
        let read = log.read(5_000, ReadLimits::default()).unwrap();
        assert_eq!(read.records[0].value.as_deref(), Some(&b"after"[..]));
        let files: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".log"))
            .collect();
        assert_eq!(files.len(), 1, "only the new segment is left: {files:?}");
    }

    #[test]
    fn a_reset_may_move_the_log_backwards_too() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), LogIdent::new("t", 0), config()).unwrap();
        fill(&log, 50);
        log.reset_to(10).unwrap();
        assert_eq!((log.log_start_offset(), log.next_offset()), (10, 10));
        fill(&log, 3);
        drop(log);
        let log = Log::open(dir.path(), LogIdent::new("t", 0), config()).unwrap();
        assert_eq!((log.log_start_offset(), log.next_offset()), (10, 13));
    }
}
