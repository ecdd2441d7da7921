//! Every status code of the API's error table, each for the situation it stands for,
//! with a message that helps (the valid range, the actual next offset, the bad name).

use crate::common;

use bytes::Bytes;
use common::{TestServer, create_topic, produce, record};
use eventlog::client::Client;
use eventlog::proto::v1 as pb;
use eventlog::proto::v1::subscribe_request::Start;
use tonic::Code;

fn fetch(topic: &str, partition: u32, offset: u64) -> pb::FetchRequest {
    pb::FetchRequest {
        topic: topic.into(),
        partition,
        offset,
        ..Default::default()
    }
}

fn expect_code<T: std::fmt::Debug>(
    result: Result<T, tonic::Status>,
    code: Code,
    message_part: &str,
) {
    let status = result.expect_err("the call should fail");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().contains(message_part),
        "{:?} does not mention {message_part:?}",
        status.message()
    );
}

async fn create(
    client: &mut Client,
    name: &str,
    partitions: u32,
    config: pb::TopicConfig,
) -> Result<(), tonic::Status> {
    let request = pb::CreateTopicRequest {
        name: name.into(),
        partitions,
        replication_factor: 0,
        config: Some(config),
    };
    client.admin.create_topic(request).await.map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_error_has_its_status_code() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "codes", 2).await;
    produce(
        &mut client,
        "codes",
        Some(0),
        (0..3).map(|_| record(None, Some("v"))).collect(),
    )
    .await;

    // NOT_FOUND: unknown topic (every RPC), unknown partition.
    expect_code(
        client.event_log.fetch(fetch("missing", 0, 0)).await,
        Code::NotFound,
        "missing",
    );
    let produce_missing = pb::ProduceRequest {
        topic: "missing".into(),
        records: vec![record(None, Some("x"))],
        ..Default::default()
    };
    expect_code(
        client.event_log.produce(produce_missing).await,
        Code::NotFound,
        "missing",
    );
    let describe = pb::DescribeTopicRequest {
        name: "missing".into(),
    };
    expect_code(
        client.admin.describe_topic(describe).await,
        Code::NotFound,
        "missing",
    );
    let delete = pb::DeleteTopicRequest {
        name: "missing".into(),
    };
    expect_code(
        client.admin.delete_topic(delete).await,
        Code::NotFound,
        "missing",
    );
    expect_code(
        client.event_log.fetch(fetch("codes", 9, 0)).await,
        Code::NotFound,
        "partition 9",
    );

    // OUT_OF_RANGE, with the valid range: fetch or subscribe past the end.
    expect_code(
        client.event_log.fetch(fetch("codes", 0, 10)).await,
        Code::OutOfRange,
        "0..=3",
    );
    let subscribe = pb::SubscribeRequest {
        topic: "codes".into(),
        partition: Some(0),
        start: Some(Start::Offset(4)),
        max_records_per_message: 0,
        ..Default::default()
    };
    expect_code(
        client.event_log.subscribe(subscribe).await,
        Code::OutOfRange,
        "0..=3",
    );

    // FAILED_PRECONDITION, with the actual next offset.
    let stale = pb::ProduceRequest {
        topic: "codes".into(),
        partition: Some(0),
        records: vec![record(None, Some("x"))],
        expected_next_offset: Some(1),
        ..Default::default()
    };
    expect_code(
        client.event_log.produce(stale).await,
        Code::FailedPrecondition,
        "3",
    );

    // INVALID_ARGUMENT: bad names, bad values, malformed requests.
    expect_code(
        create(&mut client, "../etc", 1, Default::default()).await,
        Code::InvalidArgument,
        "../etc",
    );
    expect_code(
        create(&mut client, "", 1, Default::default()).await,
        Code::InvalidArgument,
        "empty",
    );
    expect_code(
        create(&mut client, &"x".repeat(250), 1, Default::default()).await,
        Code::InvalidArgument,
        "249",
    );
    let tiny_segments = pb::TopicConfig {
        segment_bytes: Some(1000),
        ..Default::default()
    };
    expect_code(
        create(&mut client, "tiny", 1, tiny_segments).await,
        Code::InvalidArgument,
        "segment_bytes",
    );
    expect_code(
        create(&mut client, "huge", 100_000, Default::default()).await,
        Code::InvalidArgument,
        "partitions",
    );
    let bad_policy = pb::TopicConfig {
        cleanup_policy: 42,
        ..Default::default()
    };
    expect_code(
        create(&mut client, "policy", 1, bad_policy).await,
        Code::InvalidArgument,
        "cleanup_policy",
    );
    expect_code(
        client.event_log.fetch(fetch("bad/name", 0, 0)).await,
        Code::InvalidArgument,
        "bad/name",
    );
    let empty = pb::ProduceRequest {
        topic: "codes".into(),
        partition: Some(0),
        ..Default::default()
    };
    expect_code(
        client.event_log.produce(empty).await,
        Code::InvalidArgument,
        "at least one record",
    );
    let expectation_without_partition = pb::ProduceRequest {
        topic: "codes".into(),
        records: vec![record(None, Some("x"))],
        expected_next_offset: Some(3),
        ..Default::default()
    };
    expect_code(
        client
            .event_log
            .produce(expectation_without_partition)
            .await,
        Code::InvalidArgument,
        "partition",
    );
    let offset_without_partition = pb::SubscribeRequest {
        topic: "codes".into(),
        start: Some(Start::Offset(0)),
        ..Default::default()
    };
    expect_code(
        client.event_log.subscribe(offset_without_partition).await,
        Code::InvalidArgument,
        "partition",
    );

    // ALREADY_EXISTS.
    expect_code(
        create(&mut client, "codes", 1, Default::default()).await,
        Code::AlreadyExists,
        "codes",
    );

    // RESOURCE_EXHAUSTED: a batch above the server's batch limit (16 MiB).
    let big = pb::Record {
        key: None,
        value: Some(Bytes::from(vec![7u8; 17 << 20])),
        headers: vec![],
        timestamp_ms: None,
    };
    let too_large = pb::ProduceRequest {
        topic: "codes".into(),
        partition: Some(1),
        records: vec![big],
        ..Default::default()
    };
    expect_code(
        client.event_log.produce(too_large).await,
        Code::ResourceExhausted,
        "exceeds",
    );

    // UNAVAILABLE: an open stream and a waiting long-poll when the server shuts down.
    let follow = pb::SubscribeRequest {
        topic: "codes".into(),
        partition: Some(1),
        ..Default::default()
    };
    let mut stream = client
        .event_log
        .subscribe(follow)
        .await
        .unwrap()
        .into_inner();
    let caught_up = stream.message().await.unwrap().unwrap();
    assert!(caught_up.caught_up);
    let mut poller = client.clone();
    let poll = tokio::spawn(async move {
        let request = pb::FetchRequest {
            max_wait_ms: 60_000,
            ..fetch("codes", 1, 0)
        };
        poller.event_log.fetch(request).await
    });
    // Give the poll time to start waiting; if it has not, it still ends UNAVAILABLE.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    server.stop().await;
    expect_code(stream.message().await, Code::Unavailable, "shutting down");
    let polled = poll.await.unwrap();
    assert!(
        matches!(
            polled.as_ref().map_err(|s| s.code()),
            Err(Code::Unavailable)
        ),
        "{polled:?}"
    );
}
