//! Records without a partition are placed by the murmur2 hash of their key (Kafka's
//! placement), the same way on every request and after a restart; keyless records are
//! spread round-robin; order within a partition follows the request.

use crate::common;

use std::collections::BTreeMap;

use common::{TestServer, create_topic, fetch_all, produce, record, value_text};
use eventlog::broker::partitioner::partition_for_key;

const PARTITIONS: u32 = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_records_land_by_hash_stably_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "placed", PARTITIONS).await;

    let keys: Vec<String> = (0..40).map(|i| format!("customer-{i}")).collect();
    let batch = |round: usize| {
        keys.iter()
            .map(|k| record(Some(k), Some(&format!("{k}@{round}"))))
            .collect()
    };
    produce(&mut client, "placed", None, batch(0)).await;
    server.stop().await;

    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    produce(&mut client, "placed", None, batch(1)).await;

    let mut seen: BTreeMap<String, Vec<(u32, String)>> = BTreeMap::new();
    for partition in 0..PARTITIONS {
        for stored in fetch_all(&mut client, "placed", partition, 0).await {
            let key = String::from_utf8(stored.key.clone().unwrap().to_vec()).unwrap();
            seen.entry(key)
                .or_default()
                .push((partition, value_text(&stored)));
        }
    }
    assert_eq!(seen.len(), keys.len());
    for key in &keys {
        let expected = partition_for_key(key.as_bytes(), PARTITIONS);
        let placements = &seen[key];
        // Both rounds, in order, in the key's partition.
        assert_eq!(
            placements,
            &[
                (expected, format!("{key}@0")),
                (expected, format!("{key}@1"))
            ],
            "key {key}"
        );
    }
    let used: std::collections::BTreeSet<u32> = seen.values().map(|p| p[0].0).collect();
    assert!(
        used.len() > 1,
        "40 keys should use more than one of {PARTITIONS} partitions"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyless_records_spread_round_robin_in_request_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "spread", PARTITIONS).await;
    let records = (0..12)
        .map(|i| record(None, Some(&i.to_string())))
        .collect();
    let reply = produce(&mut client, "spread", None, records).await;
    assert_eq!(reply.partitions.len(), PARTITIONS as usize);

    let mut all = Vec::new();
    for partition in 0..PARTITIONS {
        let values: Vec<u32> = fetch_all(&mut client, "spread", partition, 0)
            .await
            .iter()
            .map(|r| value_text(r).parse().unwrap())
            .collect();
        assert_eq!(values.len(), 3, "partition {partition} got {values:?}");
        assert!(
            values.windows(2).all(|w| w[0] < w[1]),
            "request order kept: {values:?}"
        );
        all.extend(values);
    }
    all.sort_unstable();
    assert_eq!(all, (0..12).collect::<Vec<_>>());
    server.stop().await;
}
