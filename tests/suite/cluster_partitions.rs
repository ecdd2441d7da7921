//! Adding partitions to a replicated topic in a three-node cluster of the real binary:
//! the change goes through the metadata group, so every node serves the new
//! partitions (each with a leader of its own replication group) and keeps the old
//! records; a node that was down meanwhile opens them when it returns; refused counts
//! change nothing.

use crate::cluster_support;

use std::time::{Duration, Instant};

use cluster_support::TestCluster;
use eventlog::client::Client;
use eventlog::proto::v1 as pb;
use tonic::Code;

const TOPIC: &str = "events";

async fn add(
    client: &mut Client,
    partitions: u32,
    validate_only: bool,
) -> Result<pb::TopicSummary, tonic::Status> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let request = pb::CreatePartitionsRequest {
            name: TOPIC.into(),
            partitions,
            validate_only,
        };
        match client.admin.create_partitions(request).await {
            Err(status) if status.code() == Code::Unavailable && Instant::now() < deadline => {
                eprintln!("create partitions: {status}; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => return other.map(|reply| reply.into_inner().topic.expect("topic")),
        }
    }
}

/// The partition count node `id` reports for the topic.
async fn partitions_on(cluster: &TestCluster, id: u64) -> u32 {
    cluster.describe_topic(id, TOPIC).await.partitions
}

/// Waits until node `id` reports `count` partitions.
async fn expect_partitions(cluster: &TestCluster, id: u64, count: u32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = partitions_on(cluster, id).await;
        if seen == count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "node {id} reports {seen} partitions, expected {count}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The values of `partition`'s records as node `id` serves them, once it serves
/// `expected` of them (a follower's commit watermark may lag a little).
async fn expect_values(
    cluster: &TestCluster,
    id: u64,
    partition: u32,
    expected: usize,
) -> Vec<String> {
    let mut client = cluster.client_of(id).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let request = pb::FetchRequest {
            topic: TOPIC.into(),
            partition,
            offset: 0,
            max_records: 0,
            max_bytes: 0,
            max_wait_ms: 0,
            ..Default::default()
        };
        let values: Vec<String> = match client.event_log.fetch(request).await {
            Ok(reply) => reply
                .into_inner()
                .records
                .iter()
                .map(|r| {
                    String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned()
                })
                .collect(),
            Err(status) if status.code() == Code::Unavailable => Vec::new(),
            Err(status) => panic!("fetch {partition} on node {id}: {status}"),
        };
        if values.len() == expected {
            return values;
        }
        assert!(
            Instant::now() < deadline,
            "node {id} serves {} records of partition {partition}, expected {expected}",
            values.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn partitions_added_through_one_node_are_replicated_and_reach_a_node_that_was_down() {
    let mut cluster = TestCluster::start(3);
    cluster.create_topic(1, TOPIC, 2, 3).await;
    cluster.produce_each(1, TOPIC, 2, 3).await;

    // Bad counts and a dry run, through a node, change nothing anywhere.
    let mut client = cluster.client_of(2).await;
    let same = add(&mut client, 2, false).await.expect_err("same count");
    assert_eq!(same.code(), Code::InvalidArgument, "{same}");
    let huge = add(&mut client, 5000, false).await.expect_err("too many");
    assert_eq!(huge.code(), Code::InvalidArgument, "{huge}");
    let checked = add(&mut client, 4, true).await.expect("dry run");
    assert_eq!(checked.partitions, 4);
    for id in 1..=3 {
        assert_eq!(partitions_on(&cluster, id).await, 2);
    }

    // Node 3 is down while partitions are added through node 2.
    cluster.kill(3);
    let grown = add(&mut client, 4, false).await.expect("add partitions");
    assert_eq!(grown.partitions, 4);
    for id in 1..=2 {
        expect_partitions(&cluster, id, 4).await;
    }
    let leader = cluster.leader_of(TOPIC, 3).await;
    assert!(
        (1..=2).contains(&leader),
        "partition 3 led by node {leader}"
    );
    cluster.produce_each(1, TOPIC, 4, 2).await;

    // Old partitions hold their records plus the new ones; new ones only the new.
    assert_eq!(
        expect_values(&cluster, 2, 0, 5).await,
        ["r0", "r1", "r2", "r0", "r1"]
    );
    assert_eq!(expect_values(&cluster, 2, 3, 2).await, ["r0", "r1"]);

    // The node that was down opens the new partitions and catches up on them.
    cluster.restart(3);
    expect_partitions(&cluster, 3, 4).await;
    assert_eq!(expect_values(&cluster, 3, 3, 2).await, ["r0", "r1"]);
    assert_eq!(expect_values(&cluster, 3, 1, 5).await.len(), 5);

    // A restarted node keeps the count (its metadata log replays the addition).
    cluster.kill(1);
    cluster.restart(1);
    expect_partitions(&cluster, 1, 4).await;
    assert_eq!(expect_values(&cluster, 1, 2, 2).await, ["r0", "r1"]);
    let mut client = cluster.client_of(1).await;
    let shrink = add(&mut client, 3, false).await.expect_err("shrink");
    assert_eq!(shrink.code(), Code::InvalidArgument, "{shrink}");
}
