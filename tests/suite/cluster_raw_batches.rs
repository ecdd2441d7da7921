//! Raw batch delivery and producer-built batches in a three-node cluster: every node
//! serves the same records raw as per record, never past its commit watermark, no
//! control batch (Raft blank or membership entry) reaches a client, and a batch stamped
//! on arrival is stored as a create-time batch on every replica.

use crate::cluster_support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use cluster_support::TestCluster;
use eventlog::client::Client;
use eventlog::client::batch_builder::build_batch;
use eventlog::client::raw_batches::decode_records;
use eventlog::proto::v1 as pb;
use eventlog::storage::batch::{BatchFormat, check_crc};

const TOPIC: &str = "raw";

/// One raw fetch of partition 0 from `offset`.
async fn raw_fetch(client: &mut Client, offset: u64) -> pb::FetchResponse {
    let request = pb::FetchRequest {
        topic: TOPIC.into(),
        partition: 0,
        offset,
        delivery: pb::Delivery::RawBatches.into(),
        batch_versions: vec![2],
        ..Default::default()
    };
    client.event_log.fetch(request).await.unwrap().into_inner()
}

/// Every batch header in `chunks` is a create-time data batch (no control bit, no
/// log-append-time bit: the node a stamped batch arrives at clears it).
fn plain_data_batches(chunks: &[Bytes]) -> bool {
    chunks.iter().all(|chunk| {
        let mut rest = &chunk[..];
        let mut ok = true;
        while !rest.is_empty() {
            let header = check_crc(BatchFormat::V2, rest, u32::MAX).unwrap();
            ok &= !header.is_control() && !header.log_append_time();
            rest = &rest[header.length as usize..];
        }
        ok
    })
}

/// Everything node `id` serves raw from offset 0, once it serves `want` records.
async fn raw_records_on(cluster: &TestCluster, id: u64, want: usize) -> Vec<pb::StoredRecord> {
    let mut client = cluster.client_of(id).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (mut out, mut offset) = (Vec::new(), 0);
        loop {
            let reply = raw_fetch(&mut client, offset).await;
            assert!(
                plain_data_batches(&reply.batches),
                "node {id} sent a control or log-append-time batch"
            );
            assert!(reply.next_offset <= reply.high_watermark);
            out.extend(decode_records(0, &reply.batches, offset).unwrap());
            if reply.batches.is_empty() || reply.next_offset >= reply.high_watermark {
                break;
            }
            offset = reply.next_offset;
        }
        if out.len() >= want || Instant::now() > deadline {
            return out;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_node_serves_committed_data_batches_raw() {
    let cluster = TestCluster::start(3);
    cluster.create_topic(1, TOPIC, 1, 3).await;
    cluster.produce_each(1, TOPIC, 1, 5).await;
    // A producer-built batch through another node, handed to the leader.
    let mut client = cluster.client_of(2).await;
    let records: Vec<pb::Record> = (0..4)
        .map(|i| pb::Record {
            value: Some(Bytes::from(format!("built-{i}"))),
            ..Default::default()
        })
        .collect();
    let batch = build_batch(&records, None).unwrap().unwrap();
    client
        .event_log
        .produce(pb::ProduceRequest {
            topic: TOPIC.into(),
            partition: Some(0),
            batch,
            ..Default::default()
        })
        .await
        .unwrap();
    cluster.produce_each(3, TOPIC, 1, 2).await;

    let values = |records: &[pb::StoredRecord]| -> Vec<String> {
        records
            .iter()
            .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into())
            .collect()
    };
    let want = [
        "r0", "r1", "r2", "r3", "r4", "built-0", "built-1", "built-2", "built-3", "r0", "r1",
    ];
    for id in 1..=3 {
        let records = raw_records_on(&cluster, id, want.len()).await;
        assert_eq!(values(&records), want, "node {id}");
    }
}
