//! An idempotent producer's retry after its partition's leadership moved to a replica
//! that was started again at its leader's snapshot, in a three-node cluster of the
//! real binary: the replica was down while the producer wrote and retention purged
//! those records everywhere else, so it never received their batches, only the
//! snapshot (the log start, and the producer state as of it). Once it leads again, a
//! retry of the producer's last batch is answered as a duplicate at its original
//! offset, not appended a second time.

use crate::cluster_support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use cluster_support::TestCluster;
use eventlog::proto::v1 as pb;

const TOPIC: &str = "resumed";

/// The preferred leader of partition 0 (its first replica), as node `via` names it.
async fn preferred_leader(cluster: &TestCluster, via: u64) -> u64 {
    let reply = cluster.describe(via).await;
    reply
        .partitions
        .iter()
        .find(|p| p.topic == TOPIC && p.partition == 0)
        .and_then(|p| p.replicas.first().copied())
        .expect("partition 0 has replicas")
}

/// (earliest, latest) of partition 0 as node `id` holds it.
async fn bounds_on(cluster: &TestCluster, id: u64) -> (u64, u64) {
    let mut client = cluster.client_of(id).await;
    let reply = client
        .event_log
        .list_offsets(pb::ListOffsetsRequest {
            topic: TOPIC.into(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|status| panic!("list offsets on node {id}: {status}"))
        .into_inner();
    let p = &reply.partitions[0];
    (p.earliest_offset, p.latest_offset)
}

/// Waits until `test` holds for partition 0's bounds on node `id`; returns them.
async fn wait_bounds(
    cluster: &TestCluster,
    id: u64,
    what: &str,
    test: impl Fn((u64, u64)) -> bool,
) -> (u64, u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let bounds = bounds_on(cluster, id).await;
        if test(bounds) {
            return bounds;
        }
        assert!(
            Instant::now() < deadline,
            "node {id} {what}: bounds {bounds:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One record of `producer` at `sequence` to partition 0 through node `via`, retried
/// while the partition is between leaders.
async fn produce(
    cluster: &TestCluster,
    via: u64,
    (producer_id, epoch): (i64, u32),
    sequence: u32,
) -> pb::PartitionAppend {
    let mut client = cluster.client_of(via).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let request = pb::ProduceRequest {
            topic: TOPIC.into(),
            partition: Some(0),
            records: vec![pb::Record {
                value: Some(Bytes::from(format!("seq {sequence}"))),
                ..Default::default()
            }],
            producer_id: Some(producer_id),
            producer_epoch: epoch,
            base_sequence: sequence,
            ..Default::default()
        };
        match client.event_log.produce(request).await {
            Ok(reply) => return reply.into_inner().partitions[0],
            Err(status) if Instant::now() < deadline => {
                eprintln!("produce seq {sequence} through node {via}: {status}; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(status) => panic!("produce seq {sequence} through node {via}: {status}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retry_is_a_duplicate_on_a_leader_started_again_at_a_snapshot() {
    let mut cluster = TestCluster::start_with(3, &["--leader-balance-interval", "1s"]);
    let config = pb::TopicConfig {
        retention_ms: Some(1_000),
        ..Default::default()
    };
    cluster
        .create_topic_with(1, TOPIC, 1, 3, Some(config))
        .await;
    let preferred = preferred_leader(&cluster, 1).await;
    let others: Vec<u64> = (1..=3).filter(|id| *id != preferred).collect();

    // The preferred leader goes down; the producer writes through the others.
    cluster.kill(preferred);
    let via = others[0];
    let mut client = cluster.client_of(via).await;
    let reply = client
        .event_log
        .init_producer(pb::InitProducerRequest::default())
        .await
        .expect("init producer")
        .into_inner();
    let producer = (reply.producer_id, reply.producer_epoch);
    let mut last = None;
    for sequence in 0..10 {
        let append = produce(&cluster, via, producer, sequence).await;
        assert!(!append.duplicate, "seq {sequence} is new");
        last = Some(append);
    }
    let last = last.unwrap();

    // Retention purges those records on both running replicas (their segments roll
    // after a second and expire a second later), so the returning node cannot be sent
    // their batches.
    for id in &others {
        wait_bounds(
            &cluster,
            *id,
            "did not purge the producer's records",
            |(start, _)| start > last.last_offset,
        )
        .await;
    }

    // It returns, is started again at the leader's snapshot, and leads again (the
    // leader balance hands leadership back to the preferred replica).
    cluster.restart(preferred);
    let (start, _) = wait_bounds(
        &cluster,
        preferred,
        "was not started at the snapshot",
        |(start, _)| start > last.last_offset,
    )
    .await;
    eprintln!("node {preferred} starts its log at {start}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while cluster.leader_named_by(preferred, TOPIC, 0).await != Some(preferred) {
        assert!(
            Instant::now() < deadline,
            "node {preferred} did not lead partition 0 again"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The producer's last batch, retried through the node that now leads.
    let (_, latest_before) = bounds_on(&cluster, preferred).await;
    let retry = produce(&cluster, preferred, producer, 9).await;
    assert!(
        retry.duplicate,
        "the retry was appended again at {} (first at {})",
        retry.base_offset, last.base_offset
    );
    assert_eq!(retry.base_offset, last.base_offset);
    let (_, latest_after) = bounds_on(&cluster, preferred).await;
    assert_eq!(latest_after, latest_before, "nothing was appended");

    // The next sequence is new, and lands after the snapshot.
    let next = produce(&cluster, preferred, producer, 10).await;
    assert!(!next.duplicate);
    assert!(next.base_offset >= start);
}
