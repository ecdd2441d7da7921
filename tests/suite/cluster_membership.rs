//! Adding a node to a running three-node cluster of the real binary and removing it
//! again: the new node starts with `--join`, is added through another node, appears in
//! every node's description, learns the topics through the metadata log, and forwards
//! produces; bad requests get typed errors; after the node is removed, the original
//! nodes still form the cluster across a kill -9 and restart.

use crate::cluster_support;

use std::process::Command;
use std::time::{Duration, Instant};

use cluster_support::TestCluster;
use eventlog::proto::v1 as pb;
use tonic::Code;

const TOPIC: &str = "events";

/// Waits until node `id` describes exactly the nodes `expected`.
async fn expect_nodes(cluster: &TestCluster, id: u64, expected: &[u64]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let nodes: Vec<u64> = cluster
            .describe(id)
            .await
            .nodes
            .iter()
            .map(|n| n.id)
            .collect();
        if nodes == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "node {id} lists nodes {nodes:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs the CLI with `args`; returns whether it succeeded, its stdout and stderr.
fn cli(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_eventlog"))
        .args(args)
        .output()
        .expect("run eventlog");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// An address where nothing listens.
fn dead_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    address
}

/// Produces one record through node `via`, retrying while leaders are elected, and
/// returns its offset.
async fn produce_one(cluster: &TestCluster, via: u64, value: &str) -> u64 {
    let mut client = cluster.client_of(via).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let request = pb::ProduceRequest {
            topic: TOPIC.into(),
            partition: Some(0),
            records: vec![pb::Record {
                value: Some(bytes::Bytes::from(value.to_string())),
                ..Default::default()
            }],
            ..Default::default()
        };
        match client.event_log.produce(request).await {
            Ok(reply) => return reply.into_inner().partitions[0].base_offset,
            Err(status) if status.code() == Code::Unavailable && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => panic!("produce through node {via}: {status}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_is_added_learns_the_topics_forwards_produces_and_is_removed() {
    let mut cluster = TestCluster::start(3);
    cluster.create_topic(1, TOPIC, 2, 3).await;
    cluster.produce_each(1, TOPIC, 2, 2).await;
    let four = cluster.start_joining();
    let four_address = format!("127.0.0.1:{}", cluster.nodes[3].port);
    let server = cluster.nodes[1].url();
    let mut client = cluster.client_of(2).await;
    let mut on_four = cluster.client_of(four).await;

    // Refused requests change nothing.
    let add = |node_id: u64, address: &str| pb::AddNodeRequest {
        node_id,
        address: address.to_string(),
    };
    let taken = client.admin.add_node(add(2, &four_address)).await;
    let taken = taken.expect_err("id in the cluster");
    assert_eq!(taken.code(), Code::AlreadyExists, "{taken}");
    let dead = client.admin.add_node(add(5, &dead_address())).await;
    let dead = dead.expect_err("nothing listens");
    assert_eq!(dead.code(), Code::Unavailable, "{dead}");
    assert!(dead.message().contains("cannot be reached"), "{dead}");
    let wrong = client.admin.add_node(add(5, &four_address)).await;
    let wrong = wrong.expect_err("node 4 is not node 5");
    assert_eq!(wrong.code(), Code::InvalidArgument, "{wrong}");
    let bad = client.admin.add_node(add(5, "nowhere")).await;
    assert_eq!(bad.expect_err("no port").code(), Code::InvalidArgument);
    let (ok, _, stderr) = cli(&["cluster", "add-node", "4", "--server", &server]);
    assert!(!ok, "a node without an address is a usage error");
    assert!(stderr.contains("ID=HOST:PORT"), "{stderr}");
    expect_nodes(&cluster, 2, &[1, 2, 3]).await;

    // Added through the CLI, at node 2 (which hands it to the metadata leader).
    let spec = format!("{four}={four_address}");
    let (ok, stdout, stderr) = cli(&["cluster", "add-node", &spec, "--server", &server]);
    assert!(ok, "add-node failed: {stderr}");
    assert!(stdout.contains(&four_address), "{stdout}");
    for id in 1..=4 {
        expect_nodes(&cluster, id, &[1, 2, 3, 4]).await;
    }
    let (ok, _, stderr) = cli(&["cluster", "add-node", &spec, "--server", &server]);
    assert!(!ok && stderr.contains("ALREADY_EXISTS"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");

    // Node 4 knows the topic, holds no replica of it, and forwards reads and produces.
    let described = on_four
        .admin
        .describe_topic(pb::DescribeTopicRequest { name: TOPIC.into() })
        .await
        .expect("node 4 describes the topic")
        .into_inner();
    assert_eq!(described.topic.expect("topic").partitions, 2);
    let fetch = pb::FetchRequest {
        topic: TOPIC.into(),
        partition: 0,
        offset: 0,
        max_records: 10_000,
        ..Default::default()
    };
    let before = client
        .event_log
        .fetch(fetch.clone())
        .await
        .expect("fetch via node 1");
    let forwarded = on_four
        .event_log
        .fetch(fetch)
        .await
        .expect("node 4 reads through a node holding a replica");
    assert_eq!(forwarded.into_inner().records, before.into_inner().records);
    let offset = produce_one(&cluster, four, "via-four").await;
    assert!(offset > 0, "the record follows the earlier ones");

    // A node with replicas cannot go; node 4, which has none, can.
    let busy = client
        .admin
        .remove_node(pb::RemoveNodeRequest { node_id: 1 })
        .await
        .expect_err("node 1 holds replicas");
    assert_eq!(busy.code(), Code::FailedPrecondition, "{busy}");
    assert!(busy.message().contains("events/0"), "{busy}");
    let (ok, _, stderr) = cli(&["cluster", "remove-node", "4", "--server", &server]);
    assert!(ok, "remove-node failed: {stderr}");
    for id in 1..=3 {
        expect_nodes(&cluster, id, &[1, 2, 3]).await;
    }
    let gone = client
        .admin
        .remove_node(pb::RemoveNodeRequest { node_id: four })
        .await
        .expect_err("removed already");
    assert_eq!(gone.code(), Code::NotFound, "{gone}");
    cluster.kill(four);

    // The original three still form the cluster after a kill -9 and restart.
    cluster.kill(2);
    cluster.restart(2);
    expect_nodes(&cluster, 2, &[1, 2, 3]).await;
    produce_one(&cluster, 2, "after-restart").await;
}

#[test]
fn a_fresh_node_without_cluster_or_join_is_told_of_both() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = cli(&[
        "serve",
        "--node-id",
        "4",
        "--listen",
        &dead_address(),
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(!ok, "a fresh node needs --cluster or --join");
    assert!(
        stderr.contains("--join") && stderr.contains("--cluster"),
        "{stderr}"
    );
}
