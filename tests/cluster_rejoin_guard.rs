//! A node whose data directory was wiped must not rejoin under its old id: restarted
//! with the same flags on an empty directory, it learns from its peers that it ran in
//! the cluster before and refuses to start, with a message saying why; the rest of the
//! cluster goes on. A first start passes: at a first bootstrap, and for a node that
//! starts for the first time after the others formed the cluster without it.

mod cluster_support;

use std::time::{Duration, Instant};

use cluster_support::TestCluster;
use eventlog::proto::cluster::ProbeRequest;
use eventlog::proto::cluster::cluster_control_client::ClusterControlClient;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_node_refuses_to_rejoin_under_its_old_id() {
    // A first bootstrap on three empty directories forms the cluster.
    let mut cluster = TestCluster::start(3);
    cluster.create_topic(1, TOPIC, 1, 3).await;
    cluster.produce_each(1, TOPIC, 1, 3).await;
    wait_started(&cluster, 1, 3).await;

    cluster.kill(3);
    let dir = cluster.nodes[2].dir.clone();
    std::fs::remove_dir_all(&dir).expect("wipe node 3");
    std::fs::create_dir(&dir).expect("an empty directory");
    cluster.restart(3);
    let status = cluster
        .wait_exit(3, Duration::from_secs(30))
        .expect("the wiped node stops by itself");
    assert!(!status.success(), "{status}");
    let log = std::fs::read_to_string(dir.with_extension("log")).unwrap();
    assert!(
        log.contains("must not rejoin under its old id"),
        "the reason is logged: {log}"
    );
    // It wrote no cluster state, and the others still serve the topic.
    assert!(
        !dir.join("cluster")
            .join("meta")
            .join("raft-state.json")
            .exists()
    );
    cluster.produce_each(2, TOPIC, 1, 2).await;
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
