//! Produce and fetch round trip: keys, values, headers, tombstones and timestamps come
//! back exactly as sent, in order, and fetches respect their bounds.

use crate::common;

use bytes::Bytes;
use common::{TestServer, create_topic, fetch_all, produce};
use eventlog::proto::v1 as pb;

fn header(key: &str, value: &[u8]) -> pb::Header {
    pb::Header {
        key: key.to_string(),
        value: Bytes::copy_from_slice(value),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_round_trip_with_keys_headers_and_tombstones() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "events", 1).await;

    let sent = vec![
        pb::Record {
            key: Some(Bytes::from_static(b"user-1")),
            value: Some(Bytes::from_static(b"signed up")),
            headers: vec![
                header("source", b"web"),
                header("trace", &[0, 1, 2, 255]),
                header("source", b"again"),
            ],
            timestamp_ms: Some(1_700_000_000_000),
        },
        // A tombstone: key, no value.
        pb::Record {
            key: Some(Bytes::from_static(b"user-1")),
            value: None,
            headers: vec![],
            timestamp_ms: Some(5),
        },
        // No key, empty value (not a tombstone), server timestamp.
        pb::Record {
            key: None,
            value: Some(Bytes::new()),
            headers: vec![],
            timestamp_ms: None,
        },
        pb::Record {
            key: None,
            value: Some(Bytes::from(vec![0xAB; 10_000])),
            headers: vec![],
            timestamp_ms: None,
        },
    ];
    let before = now_ms();
    let reply = produce(&mut client, "events", Some(0), sent.clone()).await;
    assert_eq!(reply.partitions.len(), 1);
    assert_eq!(
        (
            reply.partitions[0].base_offset,
            reply.partitions[0].last_offset
        ),
        (0, 3)
    );

    let got = fetch_all(&mut client, "events", 0, 0).await;
    assert_eq!(got.len(), sent.len());
    for (offset, (stored, original)) in got.iter().zip(&sent).enumerate() {
        assert_eq!(stored.offset, offset as u64);
        assert_eq!(stored.partition, 0);
        assert_eq!(stored.key, original.key);
        assert_eq!(stored.value, original.value);
        assert_eq!(stored.headers, original.headers);
        match original.timestamp_ms {
            Some(ts) => assert_eq!(stored.timestamp_ms, ts),
            None => assert!(stored.timestamp_ms >= before, "server time was assigned"),
        }
    }
    assert!(got[1].value.is_none(), "tombstone stays a tombstone");
    assert_eq!(
        got[2].value.as_deref(),
        Some(&b""[..]),
        "empty value stays a value"
    );

    // A second batch continues the offsets and a fetch from the middle starts there.
    let reply = produce(
        &mut client,
        "events",
        Some(0),
        vec![common::record(Some("k"), Some("v"))],
    )
    .await;
    assert_eq!(reply.partitions[0].base_offset, 4);
    let tail = fetch_all(&mut client, "events", 0, 3).await;
    assert_eq!(tail.iter().map(|r| r.offset).collect::<Vec<_>>(), [3, 4]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_respects_max_records_and_max_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "bounded", 1).await;
    let value = "x".repeat(1000);
    let records = (0..50)
        .map(|_| common::record(None, Some(&value)))
        .collect();
    produce(&mut client, "bounded", Some(0), records).await;

    let fetch = |max_records, max_bytes| pb::FetchRequest {
        topic: "bounded".into(),
        partition: 0,
        offset: 0,
        max_records,
        max_bytes,
        max_wait_ms: 0,
        ..Default::default()
    };
    let reply = client
        .event_log
        .fetch(fetch(7, 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.records.len(), 7);
    assert_eq!(reply.next_offset, 7);
    assert_eq!(reply.high_watermark, 50);
    assert_eq!(reply.log_start_offset, 0);

    let reply = client
        .event_log
        .fetch(fetch(0, 5000))
        .await
        .unwrap()
        .into_inner();
    let bytes: usize = reply
        .records
        .iter()
        .map(|r| r.value.as_ref().map_or(0, |v| v.len()))
        .sum();
    assert!(
        !reply.records.is_empty() && bytes <= 5000,
        "{} records, {bytes} bytes",
        reply.records.len()
    );

    // One record larger than max_bytes still comes back, alone.
    let reply = client
        .event_log
        .fetch(fetch(0, 10))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.records.len(), 1);
    server.stop().await;
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    since.as_millis() as i64
}
