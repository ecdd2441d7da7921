//! Key compaction of a replicated topic in a three-node cluster of the real binary:
//! every replica compacts its own copy of the partition's Raft log, below its commit
//! watermark, keeping every batch at its offsets. Afterwards each node still serves
//! the newest value of every key at its acknowledged offset; a follower that was down
//! catches up from its leader's compacted log; a node restarted on its compacted log
//! rebuilds its Raft numbering and goes on replicating; and the leader can fail over.
//! Compaction asked through any node compacts every node's replica, and names a node
//! it could not ask.

use crate::cluster_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cluster_support::TestCluster;
use eventlog::proto::v1 as pb;

const TOPIC: &str = "profiles";
const KEYS: usize = 10;

/// The acknowledged (offset → key, value) of every record produced.
type Acked = BTreeMap<u64, (String, String)>;

/// Produces one round: the value `v{round}` for every key, in one request through
/// node `via`, and records what was acknowledged.
async fn produce_round(cluster: &TestCluster, via: u64, round: usize, acked: &mut Acked) {
    let mut client = cluster.client_of(via).await;
    let records: Vec<pb::Record> = (0..KEYS)
        .map(|k| pb::Record {
            key: Some(Bytes::from(format!("k{k}"))),
            value: Some(Bytes::from(format!("v{round}"))),
            ..Default::default()
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let reply = loop {
        let request = pb::ProduceRequest {
            topic: TOPIC.into(),
            partition: Some(0),
            records: records.clone(),
            ..Default::default()
        };
        match client.event_log.produce(request).await {
            Ok(reply) => break reply.into_inner(),
            Err(status) if Instant::now() < deadline => {
                eprintln!("produce through node {via}: {status}; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(status) => panic!("produce through node {via}: {status}"),
        }
    };
    let first = reply.partitions[0].base_offset;
    for k in 0..KEYS {
        acked.insert(first + k as u64, (format!("k{k}"), format!("v{round}")));
    }
}

/// The records node `id` serves, once it serves at least up to `through`.
async fn served(cluster: &TestCluster, id: u64, through: u64) -> Acked {
    let mut client = cluster.client_of(id).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let request = pb::FetchRequest {
            topic: TOPIC.into(),
            partition: 0,
            offset: 0,
            max_records: 10_000,
            ..Default::default()
        };
        let records = match client.event_log.fetch(request).await {
            Ok(reply) => reply.into_inner().records,
            Err(status) => {
                eprintln!("fetch on node {id}: {status}");
                Vec::new()
            }
        };
        if records.last().is_some_and(|r| r.offset >= through) {
            return records
                .iter()
                .map(|r| {
                    let text = |b: &Option<Bytes>| {
                        String::from_utf8_lossy(b.as_deref().unwrap_or_default()).into_owned()
                    };
                    (r.offset, (text(&r.key), text(&r.value)))
                })
                .collect();
        }
        assert!(
            Instant::now() < deadline,
            "node {id} does not serve offset {through}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Checks what node `id` serves against what was acknowledged: every record is an
/// acknowledged one at its offset, the newest value of every key is there, and
/// compaction removed records.
fn check(id: u64, served: &Acked, acked: &Acked) {
    for (offset, record) in served {
        assert_eq!(
            acked.get(offset),
            Some(record),
            "node {id} at offset {offset}"
        );
    }
    let mut newest: BTreeMap<&String, u64> = BTreeMap::new();
    for (offset, (key, _)) in acked {
        newest.insert(key, *offset);
    }
    for (key, offset) in newest {
        assert!(
            served.contains_key(&offset),
            "node {id} lost the newest record of {key} (offset {offset})"
        );
    }
    assert!(served.len() < acked.len(), "node {id} removed nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_compact_their_own_logs_and_keep_replicating() {
    let mut cluster = TestCluster::start(3);
    let config = pb::TopicConfig {
        cleanup_policy: pb::CleanupPolicy::Compact as i32,
        segment_ms: Some(100),
        // Background compaction stays off: the test compacts on demand.
        min_cleanable_dirty_ratio: Some(1.0),
        ..Default::default()
    };
    cluster
        .create_topic_with(1, TOPIC, 1, 3, Some(config))
        .await;
    let leader = cluster.leader_of(TOPIC, 0).await;
    let down = (1..=3).find(|id| *id != leader).expect("a follower");
    let mut acked = Acked::new();

    // One follower is down for the first rounds; the others compact them.
    cluster.kill(down);
    for round in 0..5 {
        produce_round(&cluster, leader, round, &mut acked).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let last = *acked.keys().last().unwrap();
    let running: Vec<u64> = (1..=3).filter(|id| *id != down).collect();
    compact_everywhere(&cluster, leader, &running).await;
    for id in running {
        check(id, &served(&cluster, id, last).await, &acked);
    }

    // The follower returns and catches up from its leader's compacted log.
    cluster.restart(down);
    produce_round(&cluster, leader, 5, &mut acked).await;
    let last = *acked.keys().last().unwrap();
    let caught_up = served(&cluster, down, last).await;
    for (offset, record) in &caught_up {
        assert_eq!(
            acked.get(offset),
            Some(record),
            "node {down} at offset {offset}"
        );
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    compact_everywhere(&cluster, down, &[down]).await;
    check(down, &served(&cluster, down, last).await, &acked);

    // The leader dies; the others, restarted on their compacted logs, go on.
    cluster.kill(leader);
    let survivor = (1..=3).find(|id| *id != leader && *id != down).unwrap();
    cluster.kill(survivor);
    cluster.restart(survivor);
    produce_round(&cluster, down, 6, &mut acked).await;
    cluster.restart(leader);
    let last = *acked.keys().last().unwrap();
    let mut views = Vec::new();
    for id in 1..=3 {
        let view = served(&cluster, id, last).await;
        check(id, &view, &acked);
        views.push(view);
    }
    // The newest round, above every compaction, is identical everywhere.
    let round_6: Vec<Acked> = views
        .iter()
        .map(|v| {
            v.iter()
                .filter(|(_, (_, value))| value == "v6")
                .map(|(o, r)| (*o, r.clone()))
                .collect()
        })
        .collect();
    assert_eq!(round_6[0].len(), KEYS);
    assert!(round_6.iter().all(|r| *r == round_6[0]), "{round_6:?}");
}

/// Compacts through node `via` until every node of `nodes` has reported removed
/// records for its replica; the last answer.
async fn compact_everywhere(
    cluster: &TestCluster,
    via: u64,
    nodes: &[u64],
) -> pb::CompactTopicResponse {
    let mut client = cluster.client_of(via).await;
    let mut removed: BTreeMap<u64, u64> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let request = pb::CompactTopicRequest {
            name: TOPIC.into(),
            dry_run: false,
        };
        let reply = client
            .admin
            .compact_topic(request)
            .await
            .unwrap_or_else(|status| panic!("compact through node {via}: {status}"))
            .into_inner();
        for replica in &reply.partitions {
            *removed.entry(replica.node_id).or_default() += replica.records_removed;
        }
        if nodes
            .iter()
            .all(|id| removed.get(id).is_some_and(|r| *r > 0))
        {
            return reply;
        }
        assert!(
            Instant::now() < deadline,
            "compaction through node {via} did not reach every replica: {removed:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs `eventlog topic compact` through node `via`: its exit status and stderr.
async fn compact_cli(cluster: &TestCluster, via: u64) -> (bool, String) {
    let url = cluster.nodes[(via - 1) as usize].url();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_eventlog"))
            .args(["topic", "compact", TOPIC, "--server", &url])
            .output()
            .expect("run eventlog topic compact")
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.success(), stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn compaction_through_any_node_compacts_every_replica_and_names_one_it_missed() {
    let mut cluster = TestCluster::start(3);
    let config = pb::TopicConfig {
        cleanup_policy: pb::CleanupPolicy::Compact as i32,
        segment_ms: Some(100),
        // Background compaction stays off: only the request compacts.
        min_cleanable_dirty_ratio: Some(1.0),
        ..Default::default()
    };
    cluster
        .create_topic_with(1, TOPIC, 1, 3, Some(config))
        .await;
    let leader = cluster.leader_of(TOPIC, 0).await;
    let via = (1..=3).find(|id| *id != leader).expect("a follower");
    let mut acked = Acked::new();
    for round in 0..5 {
        produce_round(&cluster, leader, round, &mut acked).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let last = *acked.keys().last().unwrap();
    // Every node serves up to the last round before any compaction.
    for id in 1..=3 {
        served(&cluster, id, last).await;
    }

    // One request, through a follower, compacts the replicas of all three nodes.
    let reply = compact_everywhere(&cluster, via, &[1, 2, 3]).await;
    assert!(reply.unreachable.is_empty(), "{:?}", reply.unreachable);
    for id in 1..=3 {
        check(id, &served(&cluster, id, last).await, &acked);
    }

    // A node that is down is named, not passed over in silence: the answer lists it,
    // and the command says so and fails.
    let down = (1..=3).find(|id| *id != via && *id != leader).unwrap();
    cluster.kill(down);
    let mut client = cluster.client_of(via).await;
    let reply = client
        .admin
        .compact_topic(pb::CompactTopicRequest {
            name: TOPIC.into(),
            dry_run: false,
        })
        .await
        .expect("compaction with a node down")
        .into_inner();
    let named: Vec<u64> = reply.unreachable.iter().map(|n| n.node_id).collect();
    assert_eq!(named, vec![down], "{:?}", reply.unreachable);
    assert!(reply.partitions.iter().all(|p| p.node_id != down));
    let (success, stderr) = compact_cli(&cluster, via).await;
    assert!(
        !success,
        "the command succeeded with node {down} down: {stderr}"
    );
    assert!(
        stderr.contains(&format!("node {down}")),
        "stderr does not name node {down}: {stderr}"
    );
}
