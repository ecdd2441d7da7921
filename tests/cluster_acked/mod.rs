//! Idempotent producers that record what a cluster acknowledged, and the check that
//! every acknowledged record is stored exactly once, at the offset its
//! acknowledgement named, with the same bytes at the same offsets on every replica.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use eventlog::client::Client;
use eventlog::client::producer::{Producer, ProducerOptions};
use eventlog::proto::v1 as pb;

use super::cluster_support::TestCluster;

/// (partition, offset) → value, as acknowledged to producers.
pub type Acknowledged = Arc<Mutex<BTreeMap<(u32, u64), Bytes>>>;

/// Records per batch.
pub const BATCH: usize = 5;

/// What a producer sends to.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// The topic.
    pub topic: &'static str,
    /// Its partition count.
    pub partitions: u32,
    /// Each producer sends at least this many batches, and goes on until stopped.
    pub min_batches: usize,
}

/// Sends keyed batches of `BATCH` records ("p{producer}-b{batch}-r{i}") to `target`
/// until `stop` is set (and at least `min_batches`), recording every acknowledged
/// record in `acknowledged`.
pub async fn produce(
    client: Client,
    target: Target,
    producer: usize,
    acknowledged: Acknowledged,
    stop: Arc<AtomicBool>,
) {
    let mut sender = Producer::new(client, target.topic, ProducerOptions::default())
        .await
        .expect("producer");
    for batch in 0.. {
        if batch >= target.min_batches && stop.load(Ordering::Relaxed) {
            return;
        }
        let records: Vec<pb::Record> = (0..BATCH)
            .map(|i| pb::Record {
                key: Some(Bytes::from(format!("key-{}", (batch * BATCH + i) % 7))),
                value: Some(Bytes::from(format!("p{producer}-b{batch}-r{i}"))),
                ..Default::default()
            })
            .collect();
        let values: Vec<Bytes> = records.iter().map(|r| r.value.clone().unwrap()).collect();
        let by_partition = values.iter().zip(&records).fold(
            HashMap::<u32, Vec<Bytes>>::new(),
            |mut acc, (value, record)| {
                let partition = eventlog::broker::partitioner::partition_for_key(
                    record.key.as_deref().unwrap(),
                    target.partitions,
                );
                acc.entry(partition).or_default().push(value.clone());
                acc
            },
        );
        let appends = sender.send(records).await.unwrap_or_else(|status| {
            panic!("producer {producer} batch {batch}: {status}");
        });
        let mut acked = acknowledged.lock().unwrap();
        for append in appends {
            let values = &by_partition[&append.partition];
            assert_eq!(
                append.last_offset - append.base_offset + 1,
                values.len() as u64,
                "an acknowledgement covers exactly the batch"
            );
            for (i, value) in values.iter().enumerate() {
                let previous = acked.insert(
                    (append.partition, append.base_offset + i as u64),
                    value.clone(),
                );
                assert!(previous.is_none(), "two acknowledgements for one offset");
            }
        }
    }
}

/// Every record of `target`'s topic on node `id`, read from that node alone.
pub async fn records_on(
    cluster: &TestCluster,
    target: Target,
    id: u64,
) -> BTreeMap<(u32, u64), Bytes> {
    let mut client = cluster.client_of(id).await;
    let mut out = BTreeMap::new();
    for partition in 0..target.partitions {
        let mut offset = 0;
        loop {
            let request = pb::FetchRequest {
                topic: target.topic.into(),
                partition,
                offset,
                max_records: 1000,
                max_bytes: 1 << 20,
                max_wait_ms: 0,
                ..Default::default()
            };
            let reply = client.event_log.fetch(request).await.unwrap().into_inner();
            for record in &reply.records {
                out.insert((partition, record.offset), record.value.clone().unwrap());
            }
            if reply.next_offset >= reply.high_watermark {
                break;
            }
            offset = reply.next_offset;
        }
    }
    out
}

/// Waits until every node reports the same high watermark for every partition.
pub async fn converged(cluster: &TestCluster, target: Target) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut seen = Vec::new();
        for node in &cluster.nodes {
            let mut client = cluster.client_of(node.id).await;
            let offsets = client
                .event_log
                .list_offsets(pb::ListOffsetsRequest {
                    topic: target.topic.into(),
                    partition: None,
                    timestamp_ms: None,
                })
                .await
                .unwrap()
                .into_inner();
            let latest: Vec<u64> = offsets.partitions.iter().map(|p| p.latest_offset).collect();
            seen.push(latest);
        }
        if seen.windows(2).all(|w| w[0] == w[1]) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "replicas did not converge: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every acknowledged record exactly once, at its acknowledged offset, with the same
/// bytes at the same offsets on every replica (every node holds one).
pub async fn check_replicas(
    cluster: &TestCluster,
    target: Target,
    producers: usize,
    acknowledged: &Acknowledged,
) {
    converged(cluster, target).await;
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= producers * target.min_batches * BATCH);
    let reference = records_on(cluster, target, 1).await;
    for node in 2..=cluster.nodes.len() as u64 {
        assert_eq!(
            records_on(cluster, target, node).await,
            reference,
            "node {node} differs from node 1"
        );
    }
    for (at, value) in &acknowledged {
        assert_eq!(
            reference.get(at),
            Some(value),
            "acknowledged record at {at:?} is not there"
        );
    }
    assert_eq!(
        reference.len(),
        acknowledged.len(),
        "records were stored that no producer had acknowledged (duplicates)"
    );
}
