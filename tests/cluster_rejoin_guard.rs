//! A node whose data directory was wiped must not rejoin under its old id: restarted
//! with the same flags on an empty directory, it finds that its peers count it as a
//! member already and refuses to start, with a message saying why; the rest of the
//! cluster goes on. A first bootstrap, where no peer belongs to a cluster yet, starts.

mod cluster_support;

use std::time::Duration;

use cluster_support::TestCluster;

const TOPIC: &str = "kept";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_node_refuses_to_rejoin_under_its_old_id() {
    // A first bootstrap on three empty directories forms the cluster.
    let mut cluster = TestCluster::start(3);
    cluster.create_topic(1, TOPIC, 1, 3).await;
    cluster.produce_each(1, TOPIC, 1, 3).await;

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
