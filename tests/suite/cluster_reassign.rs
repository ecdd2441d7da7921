//! Moving a partition's replicas from nodes {1,2,3} to {2,3,4} of a cluster of the real
//! binary while records are produced before, during and after the move: every
//! acknowledged record is then read back from each new replica at its acknowledged
//! offset with its bytes, node 1 no longer serves the partition, and the partition
//! commits with nodes 1 and 3 down (a majority of {2,3,4}, not of {1,2,3}), so it no
//! longer needs node 1, which leaves the cluster once it holds no replica. Bad
//! requests get typed errors.

use crate::cluster_support;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cluster_support::TestCluster;
use eventlog::client::Client;
use eventlog::proto::v1 as pb;
use tokio::sync::Mutex;
use tonic::Code;

const TOPIC: &str = "moves";
/// The longest a single call may take (a server bounds its own retries well below).
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// Acknowledged records: offset → value.
type Acked = Arc<Mutex<BTreeMap<u64, Vec<u8>>>>;

/// Produces `value` to partition 0 through `client`; its offset once acknowledged.
async fn produce(client: &mut Client, value: &[u8]) -> Result<u64, tonic::Status> {
    let request = pb::ProduceRequest {
        topic: TOPIC.into(),
        partition: Some(0),
        records: vec![pb::Record {
            value: Some(bytes::Bytes::copy_from_slice(value)),
            ..Default::default()
        }],
        ..Default::default()
    };
    let call = client.event_log.produce(request);
    let reply = tokio::time::timeout(CALL_TIMEOUT, call)
        .await
        .map_err(|_| tonic::Status::deadline_exceeded("no answer to a produce"))??;
    Ok(reply.into_inner().partitions[0].base_offset)
}

/// Produces `count` records named after `phase` through `client`, retrying failures
/// (a failed produce is not acknowledged; its retry is another record).
async fn produce_phase(client: &mut Client, acked: &Acked, phase: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut done = 0;
    while done < count {
        let value = format!("{phase}-{done}").into_bytes();
        match produce(client, &value).await {
            Ok(offset) => {
                acked.lock().await.insert(offset, value);
                done += 1;
            }
            Err(status) if Instant::now() < deadline => {
                eprintln!("produce {phase}: {status}; retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("produce {phase}: {status}"),
        }
    }
}

/// Every record of partition 0 that node `id` serves, once it serves `last`.
async fn read_all(cluster: &TestCluster, id: u64, last: u64) -> BTreeMap<u64, Vec<u8>> {
    let mut client = cluster.client_of(id).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut records = BTreeMap::new();
    let mut next = 0;
    loop {
        let request = pb::FetchRequest {
            topic: TOPIC.into(),
            partition: 0,
            offset: next,
            ..Default::default()
        };
        let call = tokio::time::timeout(CALL_TIMEOUT, client.event_log.fetch(request));
        let reply = call
            .await
            .unwrap_or_else(|_| panic!("node {id} did not answer a fetch within {CALL_TIMEOUT:?}"));
        match reply {
            Ok(reply) => {
                let reply = reply.into_inner();
                for record in reply.records {
                    let value = record.value.map(|v| v.to_vec()).unwrap_or_default();
                    records.insert(record.offset, value);
                }
                next = reply.next_offset;
            }
            Err(status) if status.code() == Code::Unavailable => {
                eprintln!("fetch on node {id}: {status}");
            }
            Err(status) => panic!("fetch on node {id}: {status}"),
        }
        if next > last {
            return records;
        }
        assert!(
            Instant::now() < deadline,
            "node {id} serves partition 0 up to offset {next}, expected past {last}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until node `id` lists exactly the nodes `expected`.
async fn expect_nodes(cluster: &TestCluster, id: u64, expected: &[u64]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let reply = cluster.describe(id).await;
        let nodes: Vec<u64> = reply.nodes.iter().map(|n| n.id).collect();
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

/// The replicas node `id` lists for partition 0, once they are `expected`.
async fn expect_replicas(cluster: &TestCluster, id: u64, expected: &[u64]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let reply = cluster.describe(id).await;
        let replicas = reply
            .partitions
            .iter()
            .find(|p| p.topic == TOPIC && p.partition == 0)
            .map(|p| p.replicas.clone())
            .unwrap_or_default();
        if replicas == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "node {id} lists replicas {replicas:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_partition_moves_to_a_new_node_without_losing_an_acknowledged_record() {
    let mut cluster = TestCluster::start(3);
    cluster.create_topic(1, TOPIC, 1, 3).await;
    expect_replicas(&cluster, 1, &[1, 2, 3]).await;
    let four = cluster.start_joining();
    let address = format!("127.0.0.1:{}", cluster.nodes[3].port);
    let mut admin = cluster.client_of(3).await;
    cluster.client_of(four).await;
    admin
        .admin
        .add_node(pb::AddNodeRequest {
            node_id: four,
            address,
        })
        .await
        .expect("add node 4");

    // Bad requests change nothing.
    let reassign = |partition: u32, replicas: Vec<u64>| pb::ReassignPartitionRequest {
        topic: TOPIC.into(),
        partition,
        replicas,
    };
    let unknown = admin
        .admin
        .reassign_partition(reassign(0, vec![2, 9]))
        .await;
    let unknown = unknown.expect_err("node 9 is not in the cluster");
    assert_eq!(unknown.code(), Code::InvalidArgument, "{unknown}");
    let twice = admin
        .admin
        .reassign_partition(reassign(0, vec![2, 2]))
        .await;
    assert_eq!(twice.expect_err("twice").code(), Code::InvalidArgument);
    let none = admin.admin.reassign_partition(reassign(0, vec![])).await;
    assert_eq!(none.expect_err("no replicas").code(), Code::InvalidArgument);
    let missing = admin.admin.reassign_partition(reassign(3, vec![2])).await;
    assert_eq!(missing.expect_err("no partition 3").code(), Code::NotFound);
    expect_replicas(&cluster, 3, &[1, 2, 3]).await;

    // Before: records on {1,2,3}.
    let acked: Acked = Arc::default();
    let mut producer = cluster.client_of(2).await;
    produce_phase(&mut producer, &acked, "before", 20).await;

    // During: a producer through node 2 runs while the move is made through node 3.
    let stop = Arc::new(AtomicBool::new(false));
    let background = {
        let (acked, stop) = (Arc::clone(&acked), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut round = 0;
            while !stop.load(Ordering::Relaxed) {
                produce_phase(&mut producer, &acked, &format!("during-{round}"), 1).await;
                round += 1;
            }
            producer
        })
    };
    let server = cluster.nodes[2].url();
    let output = Command::new(env!("CARGO_BIN_EXE_eventlog"))
        .args(["topic", "reassign", TOPIC, "--partition", "0"])
        .args(["--replicas", "2,3,4", "--server", &server])
        .output()
        .expect("run eventlog");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "topic reassign failed: {stderr}");
    let during = acked.lock().await.len();
    produce_phase(&mut cluster.client_of(4).await, &acked, "just-after", 5).await;
    stop.store(true, Ordering::Relaxed);
    let mut producer = background.await.expect("the producer task");
    eprintln!(
        "{} records acknowledged while the move ran",
        during.saturating_sub(20)
    );

    // After: through node 4 and node 2.
    produce_phase(&mut cluster.client_of(four).await, &acked, "after", 10).await;
    produce_phase(&mut producer, &acked, "after-2", 10).await;
    for id in 1..=four {
        expect_replicas(&cluster, id, &[2, 3, 4]).await;
    }

    // Every acknowledged record is on every new replica, at its offset, byte for byte.
    let acked = acked.lock().await.clone();
    let last = *acked.keys().next_back().expect("acknowledged records");
    for id in [2, 3, four] {
        let stored = read_all(&cluster, id, last).await;
        for (offset, value) in &acked {
            assert_eq!(
                stored.get(offset),
                Some(value),
                "node {id} at offset {offset}: expected {:?}",
                String::from_utf8_lossy(value)
            );
        }
    }
    // Node 1 holds no replica any more, and reads through the new replicas.
    let through_one = read_all(&cluster, 1, last).await;
    for (offset, value) in &acked {
        assert_eq!(
            through_one.get(offset),
            Some(value),
            "via node 1 at {offset}"
        );
    }

    // Node 1 holds no replica any more, so it can leave the cluster.
    admin
        .admin
        .remove_node(pb::RemoveNodeRequest { node_id: 1 })
        .await
        .expect("remove node 1 once its replicas moved off");
    for id in 2..=four {
        expect_nodes(&cluster, id, &[2, 3, 4]).await;
    }

    // Without nodes 1 and 3 the partition still commits: {2,4} is a majority of the new
    // replicas, not of the old ones.
    cluster.kill(1);
    cluster.kill(3);
    let mut client = cluster.client_of(2).await;
    let mut survivors: Acked = Arc::default();
    produce_phase(&mut client, &survivors, "without-1-and-3", 3).await;
    let survivors = Arc::get_mut(&mut survivors).unwrap().get_mut().clone();
    let last = *survivors.keys().next_back().unwrap();
    let stored = read_all(&cluster, four, last).await;
    for (offset, value) in &survivors {
        assert_eq!(stored.get(offset), Some(value), "node 4 at offset {offset}");
    }
}
