//! A node whose data directory was wiped rejoins as a new incarnation of itself: it
//! learns from its peers that it ran in the cluster before, casts no vote until each of
//! its groups has taken it back as a learner, let it catch up and made it a voter
//! again, and then counts in majorities like any voter. A first start is a plain start:
//! at a first bootstrap, and for a node that starts for the first time after the others
//! formed the cluster without it.

use crate::cluster_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cluster_support::TestCluster;
use eventlog::proto::cluster::ProbeRequest;
use eventlog::proto::cluster::cluster_control_client::ClusterControlClient;
use eventlog::proto::v1 as pb;

const TOPIC: &str = "kept";

/// Waits until node `via` knows that node `id` has started (it recorded itself).
async fn wait_started(cluster: &TestCluster, via: u64, id: u64) {
    let url = cluster.nodes[(via - 1) as usize].url();
    let mut client = ClusterControlClient::connect(url).await.expect("connect");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = client
            .probe(ProbeRequest { node_id: 0 })
            .await
            .expect("probe")
            .into_inner();
        if reply.started.contains(&id) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "node {via} never learned that node {id} started: {reply:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Produces `count` records through node `via` to partition 0, each valued
/// `{tag}-{i}`, one request each; returns those acknowledged, by offset. A request that
/// fails is not acknowledged and may be retried by nobody: it must not appear either.
async fn produce_some(
    cluster: &TestCluster,
    via: u64,
    tag: &str,
    count: usize,
) -> BTreeMap<(u32, u64), Bytes> {
    let mut client = cluster.client_of(via).await;
    let mut acknowledged = BTreeMap::new();
    for i in 0..count {
        let value = Bytes::from(format!("{tag}-{i}"));
        let request = pb::ProduceRequest {
            topic: TOPIC.into(),
            partition: Some(0),
            records: vec![pb::Record {
                value: Some(value.clone()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut request = tonic::Request::new(request);
        request.set_timeout(Duration::from_secs(5));
        if let Ok(reply) = client.event_log.produce(request).await {
            let offset = reply.into_inner().partitions[0].base_offset;
            assert!(acknowledged.insert((0, offset), value).is_none());
        }
    }
    acknowledged
}

/// Waits until node `id`'s log says it rejoined.
async fn wait_rejoined(cluster: &TestCluster, id: u64) {
    let log = cluster.nodes[(id - 1) as usize].dir.with_extension("log");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("rejoined the cluster") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "node {id} did not rejoin within 90 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Asserts that node `id` holds every acknowledged record at its offset, and nothing
/// at an offset where a different record was acknowledged.
async fn holds_all(cluster: &TestCluster, id: u64, acknowledged: &BTreeMap<(u32, u64), Bytes>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stored = cluster_support::replicas::records_on(cluster, id, TOPIC, 1).await;
        let missing = acknowledged
            .iter()
            .filter(|(at, value)| stored.get(at) != Some(*value))
            .count();
        if missing == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "node {id} lacks {missing} of {} acknowledged records",
            acknowledged.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_node_casts_no_vote_until_it_is_taken_back_then_survives_a_leader_kill() {
    let mut cluster = TestCluster::start(3);
    cluster.create_topic(1, TOPIC, 1, 3).await;
    let mut acknowledged = produce_some(&cluster, 1, "first", 20).await;
    assert_eq!(acknowledged.len(), 20);
    wait_started(&cluster, 1, 3).await;

    // With node 2 paused, nodes 1 and 3 alone acknowledge these records.
    cluster.signal(2, "STOP");
    acknowledged.extend(produce_some(&cluster, 1, "paused", 20).await);
    assert!(
        acknowledged.len() > 20,
        "nodes 1 and 3 make a majority without node 2"
    );
    // Node 3 loses its data and node 1 dies: only node 2 (which missed the records
    // above) and the wiped node 3 are left. Were node 3 to vote as the voter it was,
    // node 2 would lead and the acknowledged records would be gone.
    cluster.wipe(3);
    cluster.kill(1);
    cluster.signal(2, "CONT");
    cluster.restart(3);
    let refused = produce_some(&cluster, 2, "refused", 2).await;
    assert!(
        refused.is_empty(),
        "nodes 2 and 3 acknowledged {refused:?}: the wiped node voted"
    );

    // Node 1 is back: the group takes node 3 back as a learner, then a voter.
    cluster.restart(1);
    wait_rejoined(&cluster, 3).await;
    acknowledged.extend(produce_some(&cluster, 3, "after", 10).await);
    holds_all(&cluster, 3, &acknowledged).await;

    // Node 3 now counts in majorities: with the partition's leader killed, it and the
    // remaining node elect a leader and acknowledge, and lose nothing.
    let leader = cluster.leader_of(TOPIC, 0).await;
    cluster.kill(leader);
    let survivor = if leader == 3 { 1 + (leader % 3) } else { 3 };
    let later = produce_some(&cluster, survivor, "later", 10).await;
    assert_eq!(
        later.len(),
        10,
        "the rejoined node and one other make a majority"
    );
    acknowledged.extend(later);
    for id in (1..=3).filter(|id| *id != leader) {
        holds_all(&cluster, id, &acknowledged).await;
    }
    let log = std::fs::read_to_string(cluster.nodes[2].dir.with_extension("log")).unwrap();
    assert!(
        log.contains("ran in its cluster before: rejoining as a learner"),
        "the wiped node says why it rejoins: {log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_starting_for_the_first_time_after_the_others_formed_the_cluster_joins() {
    // Nodes 1 and 2 form the cluster (a majority of three); node 3 has never run.
    let mut cluster = TestCluster::start_some(3, &[1, 2]);
    cluster.create_topic(1, TOPIC, 1, 3).await;
    cluster.produce_each(1, TOPIC, 1, 3).await;
    cluster.restart(3);
    wait_started(&cluster, 1, 3).await;
    assert!(
        cluster.wait_exit(3, Duration::from_secs(1)).is_none(),
        "node 3 runs"
    );
    // It caught up: with node 1 gone, nodes 2 and 3 still make a majority.
    cluster.kill(1);
    cluster.produce_each(2, TOPIC, 1, 2).await;
}
