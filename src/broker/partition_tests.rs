//! What readers of a partition observe when it becomes a replica: the high watermark
//! is its group's commit watermark from then on, below a reopened log's end, and
//! every commit move wakes them.

use tokio::sync::watch;

use super::{Partition, Replication};
use crate::storage::{Log, LogConfig, LogIdent, Record};

fn partition_with(records: usize) -> (tempfile::TempDir, Partition) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogIdent::new("t", 0), LogConfig::small()).unwrap();
    let batch: Vec<Record> = (0..records)
        .map(|i| Record {
            value: Some(format!("r{i}").into_bytes().into()),
            ..Record::default()
        })
        .collect();
    log.append(&batch).unwrap();
    (dir, Partition::new(log))
}

#[test]
fn a_replica_publishes_its_commit_watermark_not_the_local_log_end() {
    // A reopened log of 10 records, of which the group has committed 4 so far.
    let (_dir, partition) = partition_with(10);
    assert_eq!(partition.high_watermark(), 10);
    let (commit, watermark) = watch::channel(4);
    partition.set_replication(Replication::Replica(watermark));
    assert_eq!(partition.high_watermark(), 4);
    assert_eq!(partition.bounds().unwrap(), (0, 4));

    // A reader waiting at the committed end is woken by the next commit, even one
    // still below the log's end (a tail the group may cut).
    let mut progress = partition.watch();
    progress.borrow_and_update();
    commit.send(7).unwrap();
    partition.publish_commit(7);
    assert!(progress.has_changed().unwrap());
    assert_eq!(progress.borrow_and_update().high_watermark, 7);
}
