//! Starting a log again, empty, at a given offset: what a replica does when its group's
//! leader no longer holds the entries it lacks and sends it its log start instead
//! (a Raft snapshot of a partition is its position, not its data).
//!
//! Like truncation, it commits through a swap intent that removes every segment and
//! names the new log start, so a crash leaves the old log or an empty one that starts
//! at the new offset (recovery finishes the intent and creates the segment there). The
//! leader's producer state as of that offset may come with it: it is taken and stored
//! as the log's producer snapshot at its new start, since no batch below it is here
//! to replay.

use std::sync::atomic::Ordering;

use super::checkpoint::Checkpoint;
use super::error::MaintenanceError;
use super::log::Log;
use super::producer_snapshot;
use super::producer_state::ProducerStateTable;
use super::swap::Intent;

impl Log {
    /// Removes every record and makes `offset` both the log start and the next offset
    /// to append. Producer state goes with the records.
    pub fn reset_to(&self, offset: u64) -> Result<(), MaintenanceError> {
        self.reset_to_with_producers(offset, None)
    }

    /// As [`Log::reset_to`], then takes the producer state of `producers` (a producer
    /// snapshot at `offset`, as [`Log::producer_snapshot_at`] encodes it on the log
    /// the replica follows), stored as this log's snapshot at `offset` so an open
    /// finds it. A snapshot that does not decode, or is taken at another offset, is
    /// ignored with a warning: producer state is derived data, and without it a retry
    /// of a batch from before `offset` is only not recognised as a duplicate.
    pub fn reset_to_with_producers(
        &self,
        offset: u64,
        producers: Option<&[u8]>,
    ) -> Result<(), MaintenanceError> {
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
        if let Some(table) = producers.and_then(|bytes| self.producers_for_reset(offset, bytes)) {
            // As any producer snapshot, a failed store costs only what an open would
            // know (the table is kept in memory): the records are already gone.
            if let Err(error) = producer_snapshot::store(&self.dir, offset, &table) {
                tracing::warn!(log = %self.ident, %error, "could not store the producer state sent with a reset");
            }
            w.producers = table;
        }
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

impl Log {
    /// The table of a producer snapshot sent for a reset at `offset`, if it is one.
    fn producers_for_reset(&self, offset: u64, bytes: &[u8]) -> Option<ProducerStateTable> {
        match producer_snapshot::decode(bytes) {
            Ok((base, table)) if base == offset => Some(table),
            Ok((base, _)) => {
                tracing::warn!(log = %self.ident, base, offset, "producer state sent for another offset; ignored");
                None
            }
            Err(why) => {
                tracing::warn!(log = %self.ident, %why, "producer state sent with the reset does not decode; ignored");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::storage::batch::BatchFormat;
    use crate::storage::producer_state::ProducerBatch;
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

    fn v2() -> LogConfig {
        LogConfig {
            batch_format: BatchFormat::V2,
            ..LogConfig::default()
        }
    }

    fn producer(producer_id: i64, epoch: i16, base_sequence: i32) -> ProducerBatch {
        ProducerBatch {
            producer_id,
            epoch,
            base_sequence,
        }
    }

    /// Producer 3 writes ten batches of two records over several segments; the
    /// boundary follows them; producer 3 (in a new epoch) and producer 4 write after it.
    fn source(dir: &Path) -> (Log, u64) {
        let log = Log::open(dir, LogIdent::new("s", 0), v2()).unwrap();
        for b in 0..10 {
            let records = [record(&format!("a{b}")), record(&format!("b{b}"))];
            log.append_idempotent(&records, producer(3, 0, b * 2), None)
                .unwrap();
            if b % 4 == 3 {
                log.roll().unwrap();
            }
        }
        let boundary = log.next_offset();
        log.append_idempotent(&[record("new epoch")], producer(3, 1, 0), None)
            .unwrap();
        log.append_idempotent(&[record("other")], producer(4, 0, 0), None)
            .unwrap();
        (log, boundary)
    }

    #[test]
    fn a_log_reset_with_its_leaders_producer_state_knows_the_batches_below_the_reset() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (leader, boundary) = source(a.path());
        let snapshot = leader.producer_snapshot_at(boundary);

        let replica = Log::open(b.path(), LogIdent::new("r", 0), v2()).unwrap();
        replica
            .reset_to_with_producers(boundary, Some(&snapshot))
            .unwrap();
        // The state as of the boundary: producer 3 in epoch 0 (the newer epoch came
        // after it), producer 4 not yet.
        let entry = replica.producer_state(3).unwrap();
        assert_eq!(entry.epoch, 0);
        assert_eq!(entry.batches.back().unwrap().last_offset, boundary - 1);
        assert!(replica.producer_state(4).is_none());
        drop(replica);

        // Also after a reopen (the state was stored at the new log start), a retry of
        // the last batch before the boundary is a duplicate at its first offset.
        let replica = Log::open(b.path(), LogIdent::new("r", 0), v2()).unwrap();
        let retry = [record("a9"), record("b9")];
        let info = replica
            .append_idempotent(&retry, producer(3, 0, 18), None)
            .unwrap();
        assert!(info.duplicate);
        assert_eq!(info.base_offset, boundary - 2);
        assert_eq!(replica.next_offset(), boundary);
    }

    #[test]
    fn producer_state_sent_for_another_offset_is_ignored() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (leader, boundary) = source(a.path());
        let snapshot = leader.producer_snapshot_at(boundary);
        let replica = Log::open(b.path(), LogIdent::new("r", 0), v2()).unwrap();
        replica
            .reset_to_with_producers(boundary + 1, Some(&snapshot))
            .unwrap();
        assert!(replica.producer_state(3).is_none());
        replica
            .reset_to_with_producers(boundary, Some(&snapshot[..snapshot.len() - 1]))
            .unwrap();
        assert!(replica.producer_state(3).is_none());
        assert_eq!(replica.next_offset(), boundary);
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
