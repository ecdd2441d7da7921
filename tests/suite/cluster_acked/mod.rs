//! Idempotent producers that record what a cluster acknowledged, and the check that
//! every acknowledged record is stored exactly once, at the offset its
//! acknowledgement named, with the same bytes at the same offsets on every replica.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use eventlog::client::Client;
use eventlog::client::producer::{Producer, ProducerOptions};
use eventlog::proto::v1 as pb;

use super::cluster_support::{TestCluster, replicas};

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

/// Every acknowledged record exactly once, at its acknowledged offset, with the same
/// bytes at the same offsets on every replica (every node holds one).
pub async fn check_replicas(
    cluster: &TestCluster,
    target: Target,
    producers: usize,
    acknowledged: &Acknowledged,
) {
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= producers * target.min_batches * BATCH);
    replicas::check_replicas(cluster, target.topic, target.partitions, &acknowledged).await;
}
