//! What every replica of a topic holds, read from each node alone, and the check that
//! ends every fault test: each acknowledged record exactly once, at its acknowledged
//! offset, with the same bytes at the same offsets on every node, and nothing else.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use eventlog::proto::v1 as pb;

use super::TestCluster;

/// (partition, offset) → value.
pub type Records = BTreeMap<(u32, u64), Bytes>;

/// Every record of `topic` (partitions `0..partitions`) on node `id`, read from that
/// node alone.
pub async fn records_on(cluster: &TestCluster, id: u64, topic: &str, partitions: u32) -> Records {
    let mut client = cluster.client_of(id).await;
    let mut out = BTreeMap::new();
    for partition in 0..partitions {
        let mut offset = 0;
        loop {
            let request = pb::FetchRequest {
                topic: topic.into(),
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

/// Waits (up to 30 s) until every node reports the same high watermark for every
/// partition of `topic`.
pub async fn converged(cluster: &TestCluster, topic: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut seen = Vec::new();
        for node in &cluster.nodes {
            let mut client = cluster.client_of(node.id).await;
            let offsets = client
                .event_log
                .list_offsets(pb::ListOffsetsRequest {
                    topic: topic.into(),
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

/// Once the replicas converge: every `acknowledged` record exactly once, at its
/// acknowledged offset, with the same bytes at the same offsets on every node, and no
/// record that was not acknowledged. Returns what the nodes hold.
pub async fn check_replicas(
    cluster: &TestCluster,
    topic: &str,
    partitions: u32,
    acknowledged: &Records,
) -> Records {
    converged(cluster, topic).await;
    let reference = records_on(cluster, 1, topic, partitions).await;
    for node in cluster.nodes.iter().skip(1) {
        assert_eq!(
            records_on(cluster, node.id, topic, partitions).await,
            reference,
            "node {} differs from node 1",
            node.id
        );
    }
    for (at, value) in acknowledged {
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
    reference
}
