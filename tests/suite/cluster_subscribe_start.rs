//! A client given the addresses of a three-node cluster while nodes are down: a
//! resuming subscription starts (and delivers every record) and CLI commands succeed
//! with one node down, and a client sends its requests to the nodes that answer as
//! they come and go.

use crate::cluster_support;

use std::time::Duration;

use cluster_support::TestCluster;
use eventlog::client::subscriber::Subscriber;
use eventlog::proto::v1 as pb;
use eventlog::proto::v1::subscribe_request::Start;

const TOPIC: &str = "started";
const PARTITIONS: u32 = 3;
const RECORDS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscription_starts_through_the_cluster_while_a_node_is_down() {
    let mut cluster = TestCluster::start(3);
    cluster.create_topic(1, TOPIC, PARTITIONS, 3).await;
    cluster.produce_each(1, TOPIC, PARTITIONS, RECORDS).await;
    cluster.kill(3);
    // Each attempt is a new client, whose first request may be sent to node 3.
    for attempt in 0..8 {
        let request = pb::SubscribeRequest {
            topic: TOPIC.into(),
            start: Some(Start::Position(pb::StartPosition::Earliest as i32)),
            ..Default::default()
        };
        let mut subscriber = Subscriber::subscribe(cluster.client().await, request)
            .await
            .unwrap_or_else(|status| panic!("attempt {attempt}: {status}"));
        let mut delivered = 0;
        while delivered < RECORDS * PARTITIONS as usize {
            let message = tokio::time::timeout(Duration::from_secs(20), subscriber.next())
                .await
                .unwrap_or_else(|_| panic!("attempt {attempt}: {delivered} records in 20 s"))
                .unwrap_or_else(|status| panic!("attempt {attempt}: {status}"));
            delivered += message.records.len();
        }
        assert_eq!(
            delivered,
            RECORDS * PARTITIONS as usize,
            "attempt {attempt}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_commands_through_the_cluster_succeed_while_a_node_is_down() {
    let mut cluster = TestCluster::start(3);
    cluster.create_topic(1, TOPIC, PARTITIONS, 3).await;
    cluster.kill(3);
    // Each run is a new client, whose request went to node 3 one time in three before
    // clients left out the nodes that do not answer.
    for run in 0..12 {
        let out = crate::common::run_cli(&cluster.addresses(), &["topic", "describe", TOPIC]);
        assert!(
            out.status.success(),
            "run {run}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Waits (up to 60 s) until node `id` answers requests of its own.
async fn serves(cluster: &TestCluster, id: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut client = cluster.client_of(id).await;
        let asked = client.admin.describe_cluster(pb::DescribeClusterRequest {});
        match tokio::time::timeout(Duration::from_secs(5), asked).await {
            Ok(Ok(_)) => return,
            _ if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => panic!("node {id} does not serve: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_follows_which_nodes_answer() {
    let mut cluster = TestCluster::start(3);
    cluster.create_topic(1, TOPIC, PARTITIONS, 3).await;
    cluster.kill(3);
    let mut client = cluster.client().await;
    // Node 3 returns and the other two go: the client, made while node 3 was down,
    // must now send everything to node 3 (which describes the cluster on its own).
    cluster.restart(3);
    serves(&cluster, 3).await;
    let settle = eventlog::client::node_watch::CHECK_EVERY * 3;
    tokio::time::sleep(settle).await;
    cluster.kill(1);
    cluster.kill(2);
    tokio::time::sleep(settle).await;
    for call in 0..6 {
        let described = client
            .admin
            .describe_cluster(pb::DescribeClusterRequest {})
            .await
            .unwrap_or_else(|status| panic!("call {call}: {status}"))
            .into_inner();
        assert_eq!(described.node_id, 3, "call {call}");
    }
}
