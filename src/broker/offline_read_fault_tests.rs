//! Offline compaction meets a sealed segment the disk cannot read (injected through the
//! read faults of `fault.rs`): it fails with an error naming the file before the rewrite
//! maps anything, and leaves every file of the topic as it was.

use crate::broker::Acks;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::OfflineDir;
use crate::broker::topic_config::CleanupPolicy;
use crate::broker::{Broker, BrokerConfig, BrokerError, NewTopic};
use crate::storage::fault::{self, EIO};
use crate::storage::{FsyncPolicy, Record};

/// A compact topic of one partition with several sealed segments, every key written
/// three times, in a closed data directory.
async fn compact_topic_with_sealed_segments(data: &Path) {
    let broker = Broker::open(BrokerConfig {
        data_dir: data.to_path_buf(),
        fsync: FsyncPolicy::Never,
        scrub_bytes_per_sec: 0,
        ..BrokerConfig::default()
    })
    .unwrap();
    broker
        .create_topic(NewTopic {
            name: "state".into(),
            partitions: Some(1),
            segment_bytes: Some(1 << 20),
            cleanup_policy: CleanupPolicy::Compact,
            ..NewTopic::default()
        })
        .await
        .unwrap();
    for round in 0..3 {
        for key in 0..20 {
            let record = Record {
                key: Some(format!("k{key}").into()),
                value: Some(vec![round as u8; 50_000].into()),
                ..Record::default()
            };
            broker
                .produce("state", Some(0), vec![record], None, Acks::All)
                .await
                .unwrap();
        }
    }
    broker.close();
}

/// Every file under `dir` with its bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.insert(path.clone(), std::fs::read(&path).unwrap());
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_segment_stops_the_compaction_before_anything_changes() {
    let data = tempfile::tempdir().unwrap();
    compact_topic_with_sealed_segments(data.path()).await;
    let partition = data.path().join("topics/state/0");
    let before = files(&partition);
    let first = "00000000000000000000.log";
    assert!(before.contains_key(&partition.join(first)));

    let dir = OfflineDir::open(data.path()).unwrap();
    fault::arm_read(&partition, first, EIO);
    let failed = dir.compact("state", false, &mut |_| {});
    fault::disarm_reads(&partition);
    match failed {
        Err(BrokerError::Io { path, source }) => {
            assert_eq!(path, partition.join(first));
            assert_eq!(source.raw_os_error(), Some(EIO));
        }
        other => panic!("expected a read error naming the segment, got {other:?}"),
    }
    assert_eq!(
        files(&partition),
        before,
        "the failed compaction changed files"
    );

    // With the disk readable again the same call compacts.
    let done = dir.compact("state", false, &mut |_| {}).unwrap();
    assert!(done[0].stats.records_removed > 0, "{:?}", done[0].stats);
}
