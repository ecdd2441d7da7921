//! Consumer-group positions in a three-node cluster of the real binary: a commit
//! through one node reads back through every node, survives a kill -9 of the metadata
//! leader, reaches a node that was down when it was made, and a group deleted through
//! one node is gone on all of them.

use crate::cluster_support;

use std::time::{Duration, Instant};

use cluster_support::TestCluster;
use eventlog::proto::v1 as pb;
use tonic::Code;

const TOPIC: &str = "payments";
const GROUP: &str = "billing";

/// Commits `next_offset` for both partitions through node `id`, retrying while the
/// cluster elects a leader.
async fn commit(cluster: &TestCluster, id: u64, next_offset: u64) {
    commit_with(cluster, id, next_offset, &format!("at {next_offset}")).await;
}

async fn commit_with(cluster: &TestCluster, id: u64, next_offset: u64, metadata: &str) {
    let mut client = cluster.client_of(id).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let request = pb::CommitOffsetsRequest {
            group: GROUP.into(),
            topic: TOPIC.into(),
            offsets: (0..2)
                .map(|partition| pb::OffsetCommit {
                    partition,
                    next_offset,
                    metadata: metadata.to_string(),
                })
                .collect(),
            ..Default::default()
        };
        match client.event_log.commit_offsets(request).await {
            Ok(_) => return,
            Err(status) if status.code() == Code::Unavailable && Instant::now() < deadline => {
                eprintln!("commit through node {id}: {status}; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(status) => panic!("commit through node {id}: {status}"),
        }
    }
}

/// The group's committed next offsets as node `id` answers a client (it asks the
/// group's coordinator).
async fn committed_on(cluster: &TestCluster, id: u64) -> Vec<Option<u64>> {
    committed(cluster, id, false).await
}

/// The group's positions in node `id`'s own group store (a call marked as forwarded
/// is served where it arrives).
async fn stored_on(cluster: &TestCluster, id: u64) -> Vec<Option<u64>> {
    committed(cluster, id, true).await
}

async fn committed(cluster: &TestCluster, id: u64, local: bool) -> Vec<Option<u64>> {
    let positions = cluster.committed(id, GROUP, TOPIC, local).await;
    positions.iter().map(|p| p.next_offset).collect()
}

/// Waits until node `id`'s own group store holds `expected` (a follower's mirror may
/// lag a little), and fails with what it holds instead.
async fn expect_committed(cluster: &TestCluster, id: u64, expected: Vec<Option<u64>>) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let seen = stored_on(cluster, id).await;
        if seen == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "node {id} reports {seen:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_positions_are_replicated_survive_the_leader_and_reach_a_restarted_node() {
    let mut cluster = TestCluster::start(3);
    cluster.create_topic(1, TOPIC, 2, 3).await;
    cluster.produce_each(1, TOPIC, 2, 10).await;

    // A commit through a follower of the metadata group (handed to the coordinator)
    // reads back at once through that node, and reaches every node's group store.
    let leader = cluster.metadata_leader().await;
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    commit(&cluster, follower, 4).await;
    assert_eq!(
        committed_on(&cluster, follower).await,
        vec![Some(4), Some(4)]
    );
    for id in 1..=3 {
        expect_committed(&cluster, id, vec![Some(4), Some(4)]).await;
    }

    // The metadata leader dies: the position stays, and new commits go on.
    cluster.kill(leader);
    let survivors: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
    for id in &survivors {
        expect_committed(&cluster, *id, vec![Some(4), Some(4)]).await;
    }
    commit(&cluster, survivors[0], 7).await;
    assert_eq!(
        committed_on(&cluster, survivors[1]).await,
        vec![Some(7), Some(7)]
    );
    expect_committed(&cluster, survivors[1], vec![Some(7), Some(7)]).await;

    // The node that was down learns the commit it missed, also after a restart.
    cluster.restart(leader);
    expect_committed(&cluster, leader, vec![Some(7), Some(7)]).await;
    cluster.kill(survivors[1]);
    cluster.restart(survivors[1]);
    expect_committed(&cluster, survivors[1], vec![Some(7), Some(7)]).await;

    // A commit for a topic the cluster does not have is refused, and stores nothing.
    let mut client = cluster.client_of(survivors[0]).await;
    let missing = client
        .event_log
        .commit_offsets(pb::CommitOffsetsRequest {
            group: GROUP.into(),
            topic: "missing".into(),
            offsets: vec![pb::OffsetCommit {
                partition: 0,
                next_offset: 0,
                metadata: String::new(),
            }],
            ..Default::default()
        })
        .await
        .expect_err("a commit for a missing topic");
    assert_eq!(missing.code(), Code::NotFound, "{missing}");

    // Deleting the group through one node removes it from every node.
    client
        .admin
        .delete_group(pb::DeleteGroupRequest {
            group: GROUP.into(),
            dry_run: false,
        })
        .await
        .expect("delete group");
    for id in 1..=3 {
        expect_committed(&cluster, id, vec![None, None]).await;
        let mut node = cluster.client_of(id).await;
        let listed = node
            .admin
            .list_groups(pb::ListGroupsRequest {})
            .await
            .unwrap()
            .into_inner();
        assert!(
            listed.groups.iter().all(|g| g.group != GROUP),
            "node {id} still lists the group: {listed:?}"
        );
    }
}

/// The metadata group's state file on node `id`, as JSON.
fn meta_state(cluster: &TestCluster, id: u64) -> serde_json::Value {
    let path = cluster.nodes[(id - 1) as usize]
        .dir
        .join("cluster/meta/raft-state.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_metadata_log_is_snapshotted_and_purged_and_a_node_behind_it_catches_up() {
    let mut cluster = TestCluster::start_with(3, &["--metadata-snapshot-every", "10"]);
    cluster.create_topic(1, TOPIC, 2, 3).await;
    cluster.produce_each(1, TOPIC, 2, 10).await;

    // Node `behind` misses every commit below, more than the log keeps.
    let leader = cluster.metadata_leader().await;
    let behind = (1..=3).find(|id| *id != leader).unwrap();
    let other = (1..=3).find(|id| *id != leader && *id != behind).unwrap();
    cluster.kill(behind);
    for i in 0..60u64 {
        let via = if i % 2 == 0 { leader } else { other };
        commit_with(&cluster, via, i % 10, &format!("commit {i}")).await;
    }
    commit_with(&cluster, other, 9, "last").await;
    // A follower purges at once (a leader waits until no follower needs the entries).
    let purged = &meta_state(&cluster, other)["purged"];
    assert!(
        purged.is_object(),
        "node {other} purged no metadata entry after 60 commits: {purged}"
    );
    let snapshot = cluster.nodes[(other - 1) as usize]
        .dir
        .join("cluster/meta/metadata-snapshot.json");
    assert!(snapshot.exists(), "node {other} stored no snapshot");

    // With the old leader gone, `other` leads: it lacks the entries `behind` needs and
    // sends the snapshot, then the entries after it.
    cluster.kill(leader);
    cluster.restart(behind);
    expect_committed(&cluster, behind, vec![Some(9), Some(9)]).await;
    let log = cluster.nodes[(behind - 1) as usize]
        .dir
        .with_extension("log");
    let log = std::fs::read_to_string(log).unwrap();
    assert!(
        log.contains("installed a metadata snapshot"),
        "node {behind} caught up without the snapshot"
    );
    cluster.restart(leader);
    let reply = cluster.committed(behind, GROUP, TOPIC, true).await;
    assert!(reply.iter().all(|p| p.metadata == "last"), "{reply:?}");

    // Every node restarts from its snapshot and the entries after it.
    for id in 1..=3 {
        cluster.kill(id);
    }
    for id in 1..=3 {
        cluster.restart(id);
    }
    for id in 1..=3 {
        expect_committed(&cluster, id, vec![Some(9), Some(9)]).await;
    }
    commit(&cluster, behind, 10).await;
    for id in 1..=3 {
        expect_committed(&cluster, id, vec![Some(10), Some(10)]).await;
    }
}
