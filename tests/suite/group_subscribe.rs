//! Subscribing from a group on a multi-partition topic: every partition resumes at its
//! own committed offset, partitions without a commit follow `reset`, and auto-commit
//! stores the positions of what the stream handed over.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{
    TestServer, commit, committed_offsets, create_topic, group_subscribe_request, produce,
    read_until_caught_up, record, value_text,
};
use eventlog::proto::v1 as pb;

/// Record values by partition, in the order received.
fn by_partition(records: &[pb::StoredRecord]) -> BTreeMap<u32, Vec<String>> {
    let mut map: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for r in records {
        map.entry(r.partition).or_default().push(value_text(r));
    }
    map
}

fn values(prefix: &str, range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_partition_resumes_at_its_own_commit() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "feed", 3).await;
    for (partition, prefix) in [(0, "a"), (1, "b"), (2, "c")] {
        let records = values(prefix, 0..6)
            .iter()
            .map(|v| record(None, Some(v)))
            .collect();
        produce(&mut client, "feed", Some(partition), records).await;
    }
    // Partition 0 at 2, partition 1 done, partition 2 never committed.
    commit(&mut client, "readers", "feed", &[(0, 2), (1, 6)])
        .await
        .unwrap();

    let mut stream = client
        .event_log
        .subscribe(group_subscribe_request("feed", "readers"))
        .await
        .unwrap()
        .into_inner();
    let got = by_partition(&read_until_caught_up(&mut stream).await);
    assert_eq!(got.get(&0), Some(&values("a", 2..6)));
    assert_eq!(got.get(&1), None);
    assert_eq!(got.get(&2), Some(&values("c", 0..6)), "no commit: earliest");
    drop(stream);

    // With reset LATEST, the uncommitted partition starts at its end instead.
    let latest = pb::SubscribeRequest {
        reset: pb::StartPosition::Latest.into(),
        ..group_subscribe_request("feed", "readers")
    };
    let mut stream = client
        .event_log
        .subscribe(latest)
        .await
        .unwrap()
        .into_inner();
    let got = by_partition(&read_until_caught_up(&mut stream).await);
    assert_eq!(got.get(&0), Some(&values("a", 2..6)));
    assert_eq!(got.get(&2), None);
    // Live records after the catch-up arrive too, from the right place.
    produce(&mut client, "feed", Some(2), vec![record(None, Some("c6"))]).await;
    let live = stream.message().await.unwrap().unwrap();
    assert_eq!(
        by_partition(&live.records).get(&2),
        Some(&vec!["c6".to_string()])
    );
    drop(stream);

    // The group subscription committed nothing by itself.
    assert_eq!(
        committed_offsets(&mut client, "readers", "feed").await,
        [Some(2), Some(6), None]
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_commit_stores_what_the_stream_handed_over() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "ticks", 2).await;
    produce(
        &mut client,
        "ticks",
        Some(0),
        vec![record(None, Some("t")); 5],
    )
    .await;
    produce(
        &mut client,
        "ticks",
        Some(1),
        vec![record(None, Some("t")); 3],
    )
    .await;

    let request = pb::SubscribeRequest {
        auto_commit_interval_ms: Some(100),
        ..group_subscribe_request("ticks", "auto")
    };
    let mut stream = client
        .event_log
        .subscribe(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read_until_caught_up(&mut stream).await.len(), 8);
    // The commit happens on the server's timer: poll for it (bounded), do not time it.
    let mut positions = Vec::new();
    for _ in 0..100 {
        positions = committed_offsets(&mut client, "auto", "ticks").await;
        if positions == [Some(5), Some(3)] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(positions, [Some(5), Some(3)]);
    drop(stream);

    // Auto-commit without a group start is a bad request.
    let plain = pb::SubscribeRequest {
        topic: "ticks".into(),
        auto_commit_interval_ms: Some(100),
        ..Default::default()
    };
    let status = client.event_log.subscribe(plain).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    server.stop().await;
}
