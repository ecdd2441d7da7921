//! Adding partitions at the broker level: records stay where they were, the new
//! partitions start empty and survive a restart, key placement follows the new count,
//! refused counts change nothing, and a leftover of an interrupted addition never
//! brings records into a new partition.

use crate::broker::Acks;
use std::path::Path;
use std::sync::Arc;

use crate::broker::membership::{JoinGroup, Strategy, TopicPartition};
use crate::broker::partitioner::Partitioner;
use crate::broker::topic_config::MAX_PARTITIONS;
use crate::broker::{Broker, BrokerConfig, BrokerError, NewTopic};
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

async fn create(broker: &Arc<Broker>, name: &str, partitions: u32) {
    broker
        .create_topic(NewTopic {
            name: name.into(),
            partitions: Some(partitions),
            segment_bytes: Some(1 << 20),
            ..NewTopic::default()
        })
        .await
        .unwrap();
}

fn record(key: &str) -> Record {
    Record {
        key: Some(key.to_string().into_bytes().into()),
        value: Some("v".into()),
        ..Record::default()
    }
}

/// High watermark of each partition.
async fn watermarks(broker: &Arc<Broker>, name: &str) -> Vec<u64> {
    let described = broker.describe_topic(name).await.unwrap();
    described
        .partitions
        .iter()
        .map(|p| p.high_watermark)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_partitions_start_empty_keep_old_records_and_survive_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let broker = open(data.path());
    create(&broker, "orders", 2).await;
    for partition in 0..2 {
        broker
            .produce(
                "orders",
                Some(partition),
                vec![record("a")],
                None,
                Acks::All,
            )
            .await
            .unwrap();
    }
    let grown = broker.add_partitions("orders", 5, false).await.unwrap();
    assert_eq!(grown.partitions, 5);
    assert_eq!(watermarks(&broker, "orders").await, [1, 1, 0, 0, 0]);
    // Keys are placed over the new count.
    let key = (0..1000)
        .map(|i| format!("k{i}"))
        .find(|k| Partitioner::new(5).partition_for(Some(k.as_bytes())) >= 2)
        .expect("some key maps to a new partition");
    let placed = broker
        .produce("orders", None, vec![record(&key)], None, Acks::All)
        .await
        .unwrap();
    assert_eq!(
        placed[0].partition,
        Partitioner::new(5).partition_for(Some(key.as_bytes()))
    );
    broker.close();

    let broker = open(data.path());
    assert_eq!(broker.list_topics().unwrap()[0].partitions, 5);
    let mut expected = vec![1, 1, 0, 0, 0];
    expected[placed[0].partition as usize] += 1;
    assert_eq!(watermarks(&broker, "orders").await, expected);
    broker.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_that_do_not_grow_or_exceed_the_limit_change_nothing() {
    let data = tempfile::tempdir().unwrap();
    let broker = open(data.path());
    create(&broker, "t", 3).await;
    for count in [0, 2, 3, MAX_PARTITIONS + 1] {
        let refused = broker.add_partitions("t", count, false).await;
        assert!(
            matches!(refused, Err(BrokerError::InvalidPartitionCount { requested, .. }) if requested == count),
            "{count}: {refused:?}"
        );
    }
    assert!(matches!(
        broker.add_partitions("missing", 4, false).await,
        Err(BrokerError::TopicNotFound { .. })
    ));
    assert!(matches!(
        broker.add_partitions("bad/name", 4, false).await,
        Err(BrokerError::InvalidTopicName { .. })
    ));
    // Validation alone answers what the topic would be and changes nothing.
    let checked = broker.add_partitions("t", 4, true).await.unwrap();
    assert_eq!(checked.partitions, 4);
    assert_eq!(broker.list_topics().unwrap()[0].partitions, 3);
    assert!(!data.path().join("topics/t/3").exists());
    broker.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leftover_directory_of_an_interrupted_addition_is_replaced() {
    let data = tempfile::tempdir().unwrap();
    let broker = open(data.path());
    create(&broker, "t", 1).await;
    create(&broker, "donor", 1).await;
    broker
        .produce(
            "donor",
            Some(0),
            vec![record("x"), record("y")],
            None,
            Acks::All,
        )
        .await
        .unwrap();
    broker.close();
    // A partition directory beyond the stored count, holding records: what a crash
    // before the commit point could leave (here copied from another topic's log).
    let leftover = data.path().join("topics/t/1");
    std::fs::create_dir(&leftover).unwrap();
    for entry in std::fs::read_dir(data.path().join("topics/donor/0")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), leftover.join(entry.file_name())).unwrap();
    }

    let broker = open(data.path());
    assert_eq!(broker.list_topics().unwrap()[1].partitions, 1);
    broker.add_partitions("t", 2, false).await.unwrap();
    assert_eq!(watermarks(&broker, "t").await, [0, 0]);
    broker.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_with_members_takes_the_new_partitions_into_its_assignment() {
    let data = tempfile::tempdir().unwrap();
    let broker = open(data.path());
    create(&broker, "orders", 2).await;
    create(&broker, "other", 1).await;
    let join = |topic: &str| JoinGroup {
        group: format!("readers-of-{topic}"),
        topics: vec![topic.to_string()],
        instance_id: None,
        client: "test".into(),
        session_timeout: None,
        strategy: Strategy::default(),
    };
    let mut member = broker.join_group(join("orders")).unwrap();
    let mut bystander = broker.join_group(join("other")).unwrap();
    let before = member.view_now();
    assert_eq!(before.assigned.len(), 2);
    let other_generation = bystander.view_now().generation;

    broker.add_partitions("orders", 4, false).await.unwrap();
    let after = member.view().borrow_and_update().clone();
    let expected: std::collections::BTreeSet<TopicPartition> =
        (0..4).map(|p| TopicPartition::new("orders", p)).collect();
    assert_eq!(after.assigned, expected);
    assert!(
        after.generation > before.generation,
        "a rebalance gave them out"
    );
    // A group reading another topic is not disturbed.
    assert_eq!(bystander.view().borrow().generation, other_generation);
    broker.close();
}
