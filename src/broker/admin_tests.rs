//! Topic deletion at the broker level: the longest names go through create, produce,
//! delete and restart, and a deletion that fails at its commit point (the rename out of
//! `topics/`) changes nothing: the topic stays listed and served with its group commits,
//! also after a restart, and can be deleted once the fault is gone.

use crate::broker::Acks;
use std::path::Path;
use std::sync::Arc;

use crate::broker::topic_name::MAX_TOPIC_NAME_LEN;
use crate::broker::{Broker, BrokerConfig, BrokerError, NewTopic, OffsetCommit};
use crate::storage::fault;
use crate::storage::fsutil::WritePoint;
use crate::storage::{FsyncPolicy, Record};

fn open(data: &Path) -> Arc<Broker> {
    Broker::open(BrokerConfig {
        data_dir: data.to_path_buf(),
        fsync: FsyncPolicy::Never,
        scrub_bytes_per_sec: 0,
        ..BrokerConfig::default()
    })
    .unwrap()
}

/// Creates `name` with two partitions, appends one record to each and commits group
/// "g" at offset 1 on both.
async fn populate(broker: &Arc<Broker>, name: &str) {
    broker
        .create_topic(NewTopic {
            name: name.into(),
            partitions: Some(2),
            segment_bytes: Some(1 << 20),
            ..NewTopic::default()
        })
        .await
        .unwrap();
    for partition in 0..2 {
        let record = Record {
            value: Some("v".into()),
            ..Record::default()
        };
        broker
            .produce(name, Some(partition), vec![record], None, Acks::All)
            .await
            .unwrap();
    }
    let commits = (0..2)
        .map(|partition| OffsetCommit {
            partition,
            next_offset: 1,
            metadata: String::new(),
        })
        .collect();
    broker.commit_offsets("g", name, commits).await.unwrap();
}

/// The group's committed next offsets on `name`, by partition.
async fn committed(broker: &Arc<Broker>, name: &str) -> Vec<Option<u64>> {
    broker
        .committed_offsets("g", name)
        .await
        .unwrap()
        .into_iter()
        .map(|lag| lag.committed.map(|c| c.next_offset))
        .collect()
}

fn listed(broker: &Broker) -> Vec<String> {
    broker
        .list_topics()
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_with_the_longest_names_are_created_deleted_and_stay_deleted() {
    let data = tempfile::tempdir().unwrap();
    let long = "L".repeat(MAX_TOPIC_NAME_LEN);
    let broker = open(data.path());
    populate(&broker, &long).await;
    broker.close();

    let broker = open(data.path());
    assert_eq!(listed(&broker), std::slice::from_ref(&long));
    assert_eq!(committed(&broker, &long).await, [Some(1), Some(1)]);
    broker.delete_topic(&long).await.unwrap();
    assert!(listed(&broker).is_empty());
    broker.close();

    let broker = open(data.path());
    assert!(listed(&broker).is_empty());
    assert!(broker.list_groups().unwrap().is_empty());
    // The name is free again and starts empty, without the old commits.
    populate(&broker, &long).await;
    broker.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_failing_at_its_commit_point_changes_nothing() {
    let data = tempfile::tempdir().unwrap();
    let broker = open(data.path());
    populate(&broker, "orders").await;
    let topics = data.path().join("topics");
    fault::arm(
        &topics,
        WritePoint::Rename,
        "orders",
        fault::EDQUOT,
        u32::MAX,
    );
    let failed = broker.delete_topic("orders").await;
    assert!(matches!(failed, Err(BrokerError::Io { .. })), "{failed:?}");
    assert_eq!(listed(&broker), ["orders"]);
    assert_eq!(committed(&broker, "orders").await, [Some(1), Some(1)]);
    let record = Record {
        value: Some("after".into()),
        ..Record::default()
    };
    broker
        .produce("orders", Some(0), vec![record], None, Acks::All)
        .await
        .unwrap();
    broker.close();

    let broker = open(data.path());
    assert_eq!(listed(&broker), ["orders"]);
    assert_eq!(committed(&broker, "orders").await, [Some(1), Some(1)]);
    fault::disarm(&topics);
    broker.delete_topic("orders").await.unwrap();
    assert!(listed(&broker).is_empty());
    broker.close();
}
