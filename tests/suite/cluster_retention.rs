//! Retention of a replicated topic in a three-node cluster of the real binary: every
//! replica's log start moves past expired records (by a Raft snapshot and purge, not by
//! deleting under Raft), reads through every node start there, and the partition keeps
//! taking and serving records afterwards.

use crate::cluster_support;

use std::time::{Duration, Instant};

use cluster_support::TestCluster;
use eventlog::proto::v1 as pb;

const TOPIC: &str = "ticks";
const PARTITIONS: u32 = 2;

async fn create(cluster: &TestCluster) {
    let mut client = cluster.client_of(1).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let request = pb::CreateTopicRequest {
            name: TOPIC.into(),
            partitions: PARTITIONS,
            replication_factor: 3,
            config: Some(pb::TopicConfig {
                retention_ms: Some(1_000),
                ..Default::default()
            }),
        };
        match client.admin.create_topic(request).await {
            Ok(_) => return,
            Err(status) if Instant::now() < deadline => {
                eprintln!("create topic: {status}; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(status) => panic!("create topic: {status}"),
        }
    }
}

/// (earliest, latest) of each partition as node `id` holds it.
async fn bounds_on(cluster: &TestCluster, id: u64) -> Vec<(u64, u64)> {
    let mut client = cluster.client_of(id).await;
    let reply = client
        .event_log
        .list_offsets(pb::ListOffsetsRequest {
            topic: TOPIC.into(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|status| panic!("list offsets on node {id}: {status}"))
        .into_inner();
    let mut out: Vec<(u32, (u64, u64))> = reply
        .partitions
        .iter()
        .map(|p| (p.partition, (p.earliest_offset, p.latest_offset)))
        .collect();
    out.sort();
    out.into_iter().map(|(_, b)| b).collect()
}

/// The values node `id` serves from each partition's earliest offset.
async fn values_on(cluster: &TestCluster, id: u64, partition: u32, from: u64) -> Vec<String> {
    let mut client = cluster.client_of(id).await;
    let reply = client
        .event_log
        .fetch(pb::FetchRequest {
            topic: TOPIC.into(),
            partition,
            offset: from,
            max_records: 1000,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|status| panic!("fetch on node {id}: {status}"))
        .into_inner();
    reply
        .records
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_moves_every_replicas_log_start_and_the_partition_keeps_serving() {
    let cluster = TestCluster::start(3);
    create(&cluster).await;
    cluster.produce_each(1, TOPIC, PARTITIONS, 50).await;
    // A node that does not lead a partition learns its commit with the leader's next
    // message, so node 1's view may take a moment to reach the records.
    let deadline = Instant::now() + Duration::from_secs(30);
    let produced = loop {
        let bounds: Vec<(u64, u64)> = bounds_on(&cluster, 1).await;
        if bounds.iter().all(|(_, latest)| *latest >= 50) {
            break bounds;
        }
        assert!(
            Instant::now() < deadline,
            "node 1 does not show the produced records: {bounds:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // The segments holding them roll after a second and expire a second later; each
    // replica then asks its group to purge them.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    loop {
        seen.clear();
        for id in 1..=3 {
            seen.push(bounds_on(&cluster, id).await);
        }
        let purged = seen.iter().all(|node| {
            node.iter()
                .zip(&produced)
                .all(|((earliest, _), (_, end))| *earliest >= *end)
        });
        if purged {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "log starts did not pass the expired records: {seen:?} (produced {produced:?})"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // New records are taken and served from the new log start through every node
    // (stamped half an hour ahead, so that retention leaves them alone meanwhile).
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let later = Some(now_ms + 30 * 60 * 1000);
    cluster
        .produce_each_stamped(2, TOPIC, PARTITIONS, 3, later)
        .await;
    for id in 1..=3 {
        let bounds = bounds_on(&cluster, id).await;
        for partition in 0..PARTITIONS {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let values = values_on(&cluster, id, partition, bounds[partition as usize].0).await;
                if values == ["r0", "r1", "r2"] {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "node {id} partition {partition} serves {values:?} from {}",
                    bounds[partition as usize].0
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
