//! Producer timestamps are bounded per topic (Kafka's `message.timestamp.before.max.ms`,
//! unbounded by default, and `message.timestamp.after.max.ms`, one hour by default): a
//! request with a record outside the window is INVALID_ARGUMENT naming the record, its
//! timestamp and the window, and nothing of it is appended. The bounds are set on create,
//! changed and reset with UpdateTopicConfig, and survive a restart.

use crate::common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::{TestServer, create_topic};
use eventlog::client::Client;
use eventlog::proto::v1 as pb;
use tonic::{Code, Status};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: u64 = 86_400_000;

fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

fn at(key: &str, timestamp_ms: i64) -> pb::Record {
    pb::Record {
        key: Some(key.to_string().into()),
        value: Some("v".into()),
        headers: Vec::new(),
        timestamp_ms: Some(timestamp_ms),
    }
}

/// Produces `records` to `topic`, spread over its partitions by key.
async fn send(client: &mut Client, topic: &str, records: Vec<pb::Record>) -> Result<(), Status> {
    let request = pb::ProduceRequest {
        topic: topic.to_string(),
        partition: None,
        records,
        expected_next_offset: None,
        ..Default::default()
    };
    client.event_log.produce(request).await.map(drop)
}

/// The high watermark of every partition of `topic`.
async fn high_watermarks(client: &mut Client, topic: &str) -> Vec<u64> {
    let request = pb::DescribeTopicRequest {
        name: topic.to_string(),
    };
    let reply = client.admin.describe_topic(request).await.unwrap();
    let partitions = reply.into_inner().partitions;
    partitions.iter().map(|p| p.high_watermark).collect()
}

async fn update(client: &mut Client, topic: &str, set: pb::TopicConfig, reset: &[&str]) {
    let request = pb::UpdateTopicConfigRequest {
        name: topic.to_string(),
        set: Some(set),
        reset: reset.iter().map(|r| r.to_string()).collect(),
    };
    client.admin.update_topic_config(request).await.unwrap();
}

fn assert_refused(result: Result<(), Status>, index: usize, timestamp_ms: i64) {
    let status = result.expect_err("a timestamp outside the window is refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let message = status.message();
    assert!(
        message.contains(&format!("record {index} of the request")),
        "{message}"
    );
    assert!(
        message.contains(&format!("timestamp {timestamp_ms} ms")),
        "{message}"
    );
    assert!(message.contains("accepts now"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamps_outside_the_topic_window_are_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "ts", 4).await;
    let now = now_ms();

    // i64::MAX among valid records: refused, and no partition got anything.
    let batch = vec![
        at("a", now),
        at("b", now - 1),
        at("c", i64::MAX),
        at("d", now),
    ];
    assert_refused(send(&mut client, "ts", batch).await, 2, i64::MAX);
    let late = now + HOUR_MS + 60_000;
    assert_refused(send(&mut client, "ts", vec![at("e", late)]).await, 0, late);
    assert_eq!(high_watermarks(&mut client, "ts").await, [0, 0, 0, 0]);

    // By default old timestamps and a little skew ahead are fine.
    let fine = vec![
        at("a", 0),
        at("b", now - 400 * DAY_MS as i64),
        at("c", now + 60_000),
    ];
    send(&mut client, "ts", fine).await.unwrap();
    let stored: u64 = high_watermarks(&mut client, "ts").await.iter().sum();
    assert_eq!(stored, 3);

    // Bounds are configurable and return to their defaults.
    let bounds = pb::TopicConfig {
        message_timestamp_before_max_ms: Some(DAY_MS),
        message_timestamp_after_max_ms: Some(0),
        ..Default::default()
    };
    update(&mut client, "ts", bounds, &[]).await;
    assert_refused(send(&mut client, "ts", vec![at("a", 0)]).await, 0, 0);
    let ahead = now_ms() + 120_000;
    assert_refused(
        send(&mut client, "ts", vec![at("a", ahead)]).await,
        0,
        ahead,
    );
    let keep = vec![at("a", now_ms() - HOUR_MS), at("b", now_ms())];
    send(&mut client, "ts", keep).await.unwrap();
    server.stop().await;

    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    assert_refused(send(&mut client, "ts", vec![at("a", 0)]).await, 0, 0);
    let defaults = [
        "message_timestamp_before_max_ms",
        "message_timestamp_after_max_ms",
    ];
    update(&mut client, "ts", pb::TopicConfig::default(), &defaults).await;
    send(
        &mut client,
        "ts",
        vec![at("a", 0), at("b", now_ms() + 60_000)],
    )
    .await
    .unwrap();
    let stored: u64 = high_watermarks(&mut client, "ts").await.iter().sum();
    assert_eq!(stored, 7);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounds_given_on_create_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    let config = pb::TopicConfig {
        message_timestamp_before_max_ms: Some(30 * DAY_MS),
        message_timestamp_after_max_ms: Some(600_000),
        ..Default::default()
    };
    let request = pb::CreateTopicRequest {
        name: "bounded".into(),
        partitions: 1,
        replication_factor: 0,
        config: Some(config),
    };
    let created = client.admin.create_topic(request).await.unwrap();
    let stored = created.into_inner().topic.unwrap().config.unwrap();
    assert_eq!(stored.message_timestamp_before_max_ms, Some(30 * DAY_MS));
    assert_eq!(stored.message_timestamp_after_max_ms, Some(600_000));
    let ahead = now_ms() + 1_200_000;
    assert_refused(
        send(&mut client, "bounded", vec![at("k", ahead)]).await,
        0,
        ahead,
    );
    server.stop().await;
}
