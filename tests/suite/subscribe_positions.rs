//! Subscribe from earliest, an offset, a time and latest, over data that spans several
//! segments and a server restart; then follow the live tail. A subscription cut by a
//! shutdown ends with UNAVAILABLE and resumes after the restart without gaps or repeats.

use crate::common;

use bytes::Bytes;
use common::{TestServer, create_topic, produce, record};
use eventlog::client::Client;
use eventlog::proto::v1 as pb;
use eventlog::proto::v1::subscribe_request::Start;
use tonic::Streaming;

const T0: i64 = 1_700_000_000_000;
const HISTORY: u64 = 800;

fn timed_record(i: u64) -> pb::Record {
    // 4 KiB values: 800 records fill more than three 1 MiB segments.
    let mut value = format!("record-{i}-").into_bytes();
    value.resize(4096, b'.');
    pb::Record {
        key: None,
        value: Some(Bytes::from(value)),
        headers: vec![],
        timestamp_ms: Some(T0 + i as i64),
    }
}

async fn subscribe(
    client: &mut Client,
    topic: &str,
    partition: Option<u32>,
    start: Start,
) -> Streaming<pb::SubscribeResponse> {
    let request = pb::SubscribeRequest {
        topic: topic.into(),
        partition,
        start: Some(start),
        max_records_per_message: 0,
        ..Default::default()
    };
    client
        .event_log
        .subscribe(request)
        .await
        .expect("subscribe")
        .into_inner()
}

/// Offsets received up to and including the caught-up marker.
async fn until_caught_up(stream: &mut Streaming<pb::SubscribeResponse>) -> Vec<u64> {
    let mut offsets = Vec::new();
    loop {
        let message = stream
            .message()
            .await
            .expect("stream")
            .expect("stream ended");
        offsets.extend(message.records.iter().map(|r| r.offset));
        if message.caught_up {
            assert!(message.records.is_empty(), "the marker travels alone");
            return offsets;
        }
    }
}

/// The next `n` records of the stream.
async fn next_records(
    stream: &mut Streaming<pb::SubscribeResponse>,
    n: usize,
) -> Vec<pb::StoredRecord> {
    let mut records = Vec::new();
    while records.len() < n {
        let message = stream
            .message()
            .await
            .expect("stream")
            .expect("stream ended");
        assert!(!message.caught_up, "caught_up is sent once per stream");
        records.extend(message.records);
    }
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_start_anywhere_across_rolls_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "history", 1).await;
    for chunk in (0..HISTORY).collect::<Vec<_>>().chunks(100) {
        produce(
            &mut client,
            "history",
            Some(0),
            chunk.iter().map(|&i| timed_record(i)).collect(),
        )
        .await;
    }
    server.stop().await;

    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    let described = client
        .admin
        .describe_topic(pb::DescribeTopicRequest {
            name: "history".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        described.partitions[0].segment_count >= 3,
        "history should span several segments"
    );
    assert_eq!(described.partitions[0].high_watermark, HISTORY);

    let earliest = Start::Position(pb::StartPosition::Earliest.into());
    let mut from_earliest = subscribe(&mut client, "history", Some(0), earliest).await;
    assert_eq!(
        until_caught_up(&mut from_earliest).await,
        (0..HISTORY).collect::<Vec<_>>()
    );

    let mut from_offset = subscribe(&mut client, "history", Some(0), Start::Offset(250)).await;
    assert_eq!(
        until_caught_up(&mut from_offset).await,
        (250..HISTORY).collect::<Vec<_>>()
    );

    let mut from_time = subscribe(&mut client, "history", None, Start::TimestampMs(T0 + 450)).await;
    assert_eq!(
        until_caught_up(&mut from_time).await,
        (450..HISTORY).collect::<Vec<_>>()
    );

    let mut from_latest = subscribe(
        &mut client,
        "history",
        None,
        Start::Position(pb::StartPosition::Latest.into()),
    )
    .await;
    assert!(until_caught_up(&mut from_latest).await.is_empty());

    // Live tail: every subscription sees the new records, exactly once and in order.
    produce(
        &mut client,
        "history",
        Some(0),
        (HISTORY..HISTORY + 5).map(timed_record).collect(),
    )
    .await;
    let live: Vec<u64> = (HISTORY..HISTORY + 5).collect();
    for stream in [
        &mut from_earliest,
        &mut from_offset,
        &mut from_time,
        &mut from_latest,
    ] {
        let got: Vec<u64> = next_records(stream, 5)
            .await
            .iter()
            .map(|r| r.offset)
            .collect();
        assert_eq!(got, live);
    }

    // A shutdown ends open streams with a retryable status...
    server.stop().await;
    let status = from_earliest
        .message()
        .await
        .expect_err("stream must end with an error on shutdown");
    assert_eq!(status.code(), tonic::Code::Unavailable);

    // ...and the reader resumes after the restart exactly where it stopped.
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    produce(
        &mut client,
        "history",
        Some(0),
        vec![record(None, Some("after restart"))],
    )
    .await;
    let mut resumed = subscribe(&mut client, "history", Some(0), Start::Offset(HISTORY + 5)).await;
    let got = next_records(&mut resumed, 1).await;
    assert_eq!(got[0].offset, HISTORY + 5);
    assert_eq!(got[0].value.as_deref(), Some(&b"after restart"[..]));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribing_to_all_partitions_sees_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "fanin", 3).await;
    let keys: Vec<String> = (0..30).map(|i| format!("k{i}")).collect();
    produce(
        &mut client,
        "fanin",
        None,
        keys.iter().map(|k| record(Some(k), Some(k))).collect(),
    )
    .await;

    let mut stream = subscribe(
        &mut client,
        "fanin",
        None,
        Start::Position(pb::StartPosition::Earliest.into()),
    )
    .await;
    let mut seen = Vec::new();
    loop {
        let message = stream.message().await.unwrap().unwrap();
        seen.extend(
            message
                .records
                .iter()
                .map(|r| (r.partition, r.offset, common::value_text(r))),
        );
        if message.caught_up {
            break;
        }
    }
    assert_eq!(seen.len(), keys.len());
    for partition in 0..3 {
        let offsets: Vec<u64> = seen
            .iter()
            .filter(|s| s.0 == partition)
            .map(|s| s.1)
            .collect();
        assert_eq!(
            offsets,
            (0..offsets.len() as u64).collect::<Vec<_>>(),
            "partition {partition} in order"
        );
    }
    let mut values: Vec<String> = seen.into_iter().map(|s| s.2).collect();
    values.sort();
    let mut expected = keys.clone();
    expected.sort();
    assert_eq!(values, expected);
    server.stop().await;
}
