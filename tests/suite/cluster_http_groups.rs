//! The HTTP API's group calls work through any node of a cluster: a node that does not
//! coordinate consumer groups hands each call to the coordinator, so a commit made
//! through one node is the coordinator's, and every node reads it back, resets and
//! deletes it.

use crate::cluster_support;
use crate::http_support;

use std::net::SocketAddr;

use cluster_support::TestCluster;
use http_support::json_call;
use serde_json::{Value, json};

const TOPIC: &str = "orders";
const GROUP: &str = "billing";

fn http(cluster: &TestCluster, id: u64) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], cluster.nodes[(id - 1) as usize].http_port))
}

/// The committed offset of partition `partition` in a list of positions.
fn committed(positions: &Value, partition: u64) -> Value {
    positions
        .as_array()
        .unwrap_or_else(|| panic!("a list of positions: {positions}"))
        .iter()
        .find(|p| p["partition"] == partition)
        .map_or(Value::Null, |p| p["committed_offset"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_calls_over_http_on_any_node_reach_the_coordinator() {
    let cluster = TestCluster::start_with_http(3);
    cluster.create_topic(1, TOPIC, 2, 3).await;
    cluster.produce_each(1, TOPIC, 2, 10).await;
    let coordinator = cluster.metadata_leader().await;
    let others: Vec<u64> = (1..=3).filter(|id| *id != coordinator).collect();
    let positions_path = format!("/api/v1/groups/{GROUP}/topics/{TOPIC}");

    // A commit through a node that does not coordinate.
    let commit = json!({"offsets": [{"partition": 0, "next_offset": 7, "metadata": "m"}]});
    let path = format!("{positions_path}/offsets");
    let (status, body) = json_call(http(&cluster, others[0]), "POST", &path, commit).await;
    assert_eq!(status, 204, "commit through node {}: {body}", others[0]);

    // It is the coordinator's, and the other nodes read it back.
    let stored = cluster.committed(coordinator, GROUP, TOPIC, true).await;
    assert_eq!(stored[0].next_offset, Some(7), "{stored:?}");
    let (status, positions) = json_call(
        http(&cluster, others[1]),
        "GET",
        &positions_path,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{positions}");
    assert_eq!(committed(&positions, 0), json!(7));
    assert_eq!(committed(&positions, 1), Value::Null);
    assert_eq!(positions[0]["metadata"], "m");
    let high_watermark = positions[0]["high_watermark"]
        .as_u64()
        .expect("a high watermark");
    assert_eq!(positions[0]["lag"], high_watermark - 7);

    let group_path = format!("/api/v1/groups/{GROUP}");
    let (status, described) =
        json_call(http(&cluster, others[0]), "GET", &group_path, Value::Null).await;
    assert_eq!(status, 200, "{described}");
    assert_eq!(committed(&described["partitions"], 0), json!(7));

    // A reset and a delete, each first as a dry run.
    let path = format!("{positions_path}/reset");
    let reset = json!({"to": "earliest", "partition": 0, "dry_run": true});
    let (status, moved) = json_call(http(&cluster, others[1]), "POST", &path, reset).await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(
        moved,
        json!([{"partition": 0, "previous": 7, "next_offset": 0}])
    );
    let path = format!("{group_path}?dry_run=true");
    let (status, removed) =
        json_call(http(&cluster, others[0]), "DELETE", &path, Value::Null).await;
    assert_eq!(status, 200, "{removed}");
    assert_eq!(committed(&removed, 0), json!(7));
    let stored = cluster.committed(coordinator, GROUP, TOPIC, true).await;
    assert_eq!(stored[0].next_offset, Some(7), "dry runs store nothing");

    let (status, removed) = json_call(
        http(&cluster, others[1]),
        "DELETE",
        &group_path,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{removed}");
    let stored = cluster.committed(coordinator, GROUP, TOPIC, true).await;
    assert_eq!(stored[0].next_offset, None, "deleted at the coordinator");

    // A bad request is refused where it arrives, with the same status as on the
    // coordinator.
    let path = format!("{positions_path}/offsets");
    let bad = json!({"offsets": [{"partition": 9, "next_offset": 1}]});
    let (status, body) = json_call(http(&cluster, others[0]), "POST", &path, bad.clone()).await;
    let (local, _) = json_call(http(&cluster, coordinator), "POST", &path, bad).await;
    assert_eq!((status, local), (404, 404), "{body}");
}
