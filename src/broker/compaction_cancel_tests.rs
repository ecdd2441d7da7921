//! Deleting a topic while it is being compacted: the deletion cancels the compaction
//! instead of waiting for it, and offset commits of other topics never wait for it.
//! A test hold (`compaction_hold`) keeps the compaction in progress while the test acts,
//! so the assertions are on the order of events, not on timing.

use crate::broker::Acks;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::compaction_hold as hold;
use super::group_store::now_ms;
use super::{Broker, BrokerConfig, BrokerError, CleanupPolicy, DirtyRatio, NewTopic, OffsetCommit};
use crate::storage::{FsyncPolicy, Record};

/// Bound on each wait, so a regression fails instead of hanging.
const GUARD: Duration = Duration::from_secs(20);

async fn broker(dir: &std::path::Path) -> Arc<Broker> {
    let config = BrokerConfig {
        data_dir: dir.to_path_buf(),
        fsync: FsyncPolicy::Never,
        default_segment_bytes: 1 << 20,
        // No background round during the test: the compaction held is the one it runs.
        tick_interval: Duration::from_secs(3600),
        ..BrokerConfig::default()
    };
    tokio::task::spawn_blocking(move || Broker::open(config))
        .await
        .unwrap()
        .unwrap()
}

async fn create(broker: &Arc<Broker>, name: &str, policy: CleanupPolicy) {
    let request = NewTopic {
        name: name.into(),
        cleanup_policy: policy,
        // On-demand compaction only.
        min_cleanable_dirty_ratio: Some(DirtyRatio::new(1.0).unwrap()),
        ..NewTopic::default()
    };
    broker.create_topic(request).await.unwrap();
}

/// Writes about 3 MiB under a few keys, so the 1 MiB segments roll and some are sealed.
async fn fill(broker: &Arc<Broker>, topic: &str) {
    for round in 0..6 {
        let records = (0..8)
            .map(|i| Record {
                key: Some(Bytes::from(format!("key-{i}"))),
                value: Some(Bytes::from(vec![round as u8; 64 << 10])),
                headers: vec![],
                timestamp_ms: now_ms(),
            })
            .collect();
        broker
            .produce(topic, Some(0), records, None, Acks::All)
            .await
            .unwrap();
    }
}

/// A broker with COMPACT topic `compacted` (sealed segments to compact) and DELETE
/// topic `b` (records to commit offsets on). Holds are keyed by topic name: each test
/// names its compacted topic differently.
async fn two_topics(dir: &std::path::Path, compacted: &str) -> Arc<Broker> {
    let broker = broker(dir).await;
    create(&broker, compacted, CleanupPolicy::Compact).await;
    create(&broker, "b", CleanupPolicy::Delete).await;
    fill(&broker, compacted).await;
    fill(&broker, "b").await;
    broker
}

fn commit_b(broker: &Arc<Broker>) -> tokio::task::JoinHandle<Result<(), BrokerError>> {
    let broker = Arc::clone(broker);
    tokio::spawn(async move {
        let entry = OffsetCommit {
            partition: 0,
            next_offset: 1,
            metadata: String::new(),
        };
        broker.commit_offsets("g", "b", vec![entry]).await.map(drop)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn commits_of_other_topics_do_not_wait_for_a_deletion_waiting_on_a_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let broker = two_topics(dir.path(), "a").await;
    let partition = Arc::clone(broker.topic("a").unwrap().partition(0).unwrap());
    // A compaction busy in a long batch: it does not see the cancellation until released.
    hold::hold("a", false);
    let _release = hold::Releaser("a");
    let compacting = tokio::spawn({
        let broker = Arc::clone(&broker);
        async move { broker.compact_topic("a", false).await }
    });
    assert!(hold::wait_reached("a"), "the compaction started");
    let deleting = tokio::spawn({
        let broker = Arc::clone(&broker);
        async move { broker.delete_topic("a").await }
    });
    // The deletion is closing the partition: it waits for the compaction from now on.
    let closing = tokio::time::timeout(GUARD, async {
        while !partition.closing() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(
        closing.is_ok(),
        "the deletion reached the partition's close"
    );

    let committed = tokio::time::timeout(GUARD, commit_b(&broker)).await;
    let compaction_in_progress = hold::waiting("a");
    let deletion_in_progress = !deleting.is_finished();
    hold::release("a");
    assert!(
        matches!(committed, Ok(Ok(Ok(())))),
        "a commit of another topic completed while the deletion waited: {committed:?}"
    );
    assert!(compaction_in_progress && deletion_in_progress);

    deleting.await.unwrap().expect("the deletion finishes");
    let compacted = compacting.await.unwrap();
    assert!(
        matches!(compacted, Err(BrokerError::PartitionClosed { .. })),
        "the compaction was cancelled: {compacted:?}"
    );
    assert!(broker.list_topics().unwrap().iter().all(|t| t.name != "a"));
    assert!(!dir.path().join("topics").join("a").exists());
    broker.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_a_topic_cancels_its_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let broker = two_topics(dir.path(), "c").await;
    // Held until its partition starts closing, never released by the test.
    hold::hold("c", true);
    let _release = hold::Releaser("c");
    let compacting = tokio::spawn({
        let broker = Arc::clone(&broker);
        async move { broker.compact_topic("c", false).await }
    });
    assert!(hold::wait_reached("c"), "the compaction started");

    let deleted = tokio::time::timeout(GUARD, {
        let broker = Arc::clone(&broker);
        tokio::spawn(async move { broker.delete_topic("c").await })
    })
    .await;
    hold::release("c");
    assert!(
        matches!(deleted, Ok(Ok(Ok(())))),
        "the deletion finished without the compaction being released: {deleted:?}"
    );
    let compacted = compacting.await.unwrap();
    assert!(
        matches!(compacted, Err(BrokerError::PartitionClosed { .. })),
        "the compaction was cancelled: {compacted:?}"
    );
    assert!(!dir.path().join("topics").join("c").exists());
    // Commits go on after it.
    commit_b(&broker).await.unwrap().unwrap();
    broker.close();
}
