//! Creating a replicated topic on a three-node cluster of the real binary: the
//! creation returns once every partition the answering node holds a replica of has a
//! leader, so a client can write to the topic at once instead of its first produce
//! waiting for the partitions' first elections.

use crate::cluster_support;

use cluster_support::TestCluster;

/// Checks that node `via` names a leader, one of the partition's replicas, for every
/// partition of `topic` it holds a replica of; returns how many partitions it holds.
async fn leaders_known(cluster: &TestCluster, via: u64, topic: &str, partitions: u32) -> usize {
    let described = cluster.describe(via).await;
    let of_topic: Vec<_> = described
        .partitions
        .iter()
        .filter(|p| p.topic == topic)
        .collect();
    assert_eq!(of_topic.len(), partitions as usize, "{topic}: {of_topic:?}");
    let held: Vec<_> = of_topic
        .into_iter()
        .filter(|p| p.replicas.contains(&via))
        .collect();
    for p in &held {
        let leader = p.leader.unwrap_or_else(|| {
            panic!(
                "{topic}/{} has no leader right after its creation returned",
                p.partition
            )
        });
        assert!(
            p.replicas.contains(&leader),
            "{topic}/{}: {p:?}",
            p.partition
        );
    }
    held.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_created_topic_has_a_leader_for_every_partition_when_its_creation_returns() {
    let cluster = TestCluster::start(3);
    cluster.create_topic(2, "everywhere", 6, 3).await;
    assert_eq!(leaders_known(&cluster, 2, "everywhere", 6).await, 6);
    // With two replicas of each partition, node 2 holds only some of them: those it
    // holds have leaders too.
    cluster.create_topic(2, "pairs", 6, 2).await;
    let held = leaders_known(&cluster, 2, "pairs", 6).await;
    assert!(
        (1..6).contains(&held),
        "node 2 holds {held} of 6 partitions"
    );
}
