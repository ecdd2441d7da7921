//! Named idempotent producers in a three-node cluster of the real binary: the name's
//! registry lives in the metadata group, so `InitProducer` with a name returns the
//! same id with a bumped epoch through any node (also after a restart of the node
//! that first issued it), every node fences the older epoch, even on a partition that
//! never saw the newer one, and the cluster-wide limit on names holds.

use crate::cluster_support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use cluster_support::TestCluster;
use eventlog::proto::v1 as pb;
use tonic::Code;

const TOPIC: &str = "ledger";

/// `InitProducer` for `name` through node `id`, retried while the cluster is between
/// leaders; returns (id, epoch) or the final refusal.
async fn init(cluster: &TestCluster, id: u64, name: &str) -> Result<(i64, u32), tonic::Status> {
    let mut client = cluster.client_of(id).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let request = pb::InitProducerRequest {
            producer_name: Some(name.into()),
        };
        match client.event_log.init_producer(request).await {
            Ok(reply) => {
                let reply = reply.into_inner();
                return Ok((reply.producer_id, reply.producer_epoch));
            }
            Err(status) if status.code() == Code::Unavailable && Instant::now() < deadline => {
                eprintln!("init producer through node {id}: {status}; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(status) => return Err(status),
        }
    }
}

/// Produces as `producer` through node `via` until the node refuses the epoch as
/// fenced; returns the refusal. A node learns a new epoch when it applies the
/// registration, within a heartbeat of the answer to `InitProducer`: until then the
/// same record may be accepted (and then reported as a duplicate).
async fn expect_fenced(
    cluster: &TestCluster,
    via: u64,
    partition: u32,
    producer: (i64, u32),
    sequence: u32,
) -> tonic::Status {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match produce(cluster, via, partition, producer, sequence).await {
            Err(status) if status.code() == Code::FailedPrecondition => return status,
            other => assert!(
                Instant::now() < deadline,
                "node {via} does not fence {producer:?}: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One record to `partition` as producer `(producer_id, epoch)` at `sequence`,
/// through node `via`.
async fn produce(
    cluster: &TestCluster,
    via: u64,
    partition: u32,
    (producer_id, epoch): (i64, u32),
    sequence: u32,
) -> Result<(), tonic::Status> {
    let mut client = cluster.client_of(via).await;
    let request = pb::ProduceRequest {
        topic: TOPIC.into(),
        partition: Some(partition),
        records: vec![pb::Record {
            value: Some(Bytes::from(format!("epoch {epoch} seq {sequence}"))),
            ..Default::default()
        }],
        producer_id: Some(producer_id),
        producer_epoch: epoch,
        base_sequence: sequence,
        ..Default::default()
    };
    client.event_log.produce(request).await.map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_named_producer_is_one_identity_across_nodes_and_its_old_epochs_are_fenced() {
    let mut cluster = TestCluster::start_with(3, &["--max-producer-names", "2"]);
    cluster.create_topic(1, TOPIC, 2, 3).await;

    let first = init(&cluster, 1, "writer")
        .await
        .expect("init through node 1");
    assert_eq!(first.1, 0);
    produce(&cluster, 1, 0, first, 0)
        .await
        .expect("epoch 0 writes");

    // The same name through another node: the same id, the next epoch.
    let second = init(&cluster, 2, "writer")
        .await
        .expect("init through node 2");
    assert_eq!(second, (first.0, 1));

    // The old instance is fenced through every node, also on partition 1, which has
    // never seen the new epoch.
    for via in 1..=3 {
        let fenced = expect_fenced(&cluster, via, 1, first, 0).await;
        assert!(
            fenced.message().contains("epoch"),
            "through node {via}: {fenced}"
        );
    }
    produce(&cluster, 3, 1, second, 0)
        .await
        .expect("the newer epoch writes");

    // The node that first issued the id restarts; the registry is the cluster's.
    cluster.kill(1);
    cluster.restart(1);
    let third = init(&cluster, 1, "writer")
        .await
        .expect("init after the restart");
    assert_eq!(third, (first.0, 2));
    expect_fenced(&cluster, 2, 0, second, 0).await;

    // The limit on names is the cluster's: two names in all, whichever nodes.
    init(&cluster, 3, "auditor").await.expect("a second name");
    let refused = init(&cluster, 2, "third")
        .await
        .expect_err("a third name is over the limit");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused}");
}
