//! Idempotent produces through the gRPC API: a retry answered with the original offsets,
//! and the precise codes (with trailers) for gaps, fenced epochs, unknown ids and
//! malformed producer fields; producer state surviving a restart of the server.

use crate::common;

use common::{TestServer, create_topic, fetch_all, record, value_text};
use eventlog::client::Transport;
use eventlog::proto::v1 as pb;
use eventlog::proto::v1::event_log_client::EventLogClient;
use tonic::Code;

type Log = EventLogClient<Transport>;

/// A change that makes a produce request's producer fields invalid.
type Spoil = fn(&mut pb::ProduceRequest);

fn request(
    producer: &pb::InitProducerResponse,
    sequence: u32,
    values: &[&str],
) -> pb::ProduceRequest {
    pb::ProduceRequest {
        topic: "orders".into(),
        partition: Some(1),
        records: values.iter().map(|v| record(None, Some(v))).collect(),
        producer_id: Some(producer.producer_id),
        producer_epoch: producer.producer_epoch,
        base_sequence: sequence,
        ..Default::default()
    }
}

async fn init(log: &mut Log, name: Option<&str>) -> pb::InitProducerResponse {
    log.init_producer(pb::InitProducerRequest {
        producer_name: name.map(str::to_string),
    })
    .await
    .expect("init producer")
    .into_inner()
}

async fn produce(
    log: &mut Log,
    request: pb::ProduceRequest,
) -> Result<pb::PartitionAppend, tonic::Status> {
    let reply = log.produce(request).await?.into_inner();
    Ok(reply.partitions[0])
}

fn trailer(status: &tonic::Status, key: &str) -> Option<String> {
    status
        .metadata()
        .get(key)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_gets_the_original_offsets_and_appends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "orders", 2).await;
    let mut log = client.event_log.clone();
    let producer = init(&mut log, None).await;
    let first = produce(&mut log, request(&producer, 0, &["a", "b"]))
        .await
        .unwrap();
    let second = produce(&mut log, request(&producer, 2, &["c"]))
        .await
        .unwrap();
    assert_eq!((first.base_offset, second.base_offset), (0, 2));
    assert!(!first.duplicate);
    let retry = produce(&mut log, request(&producer, 0, &["a", "b"]))
        .await
        .unwrap();
    assert!(retry.duplicate);
    assert_eq!((retry.base_offset, retry.last_offset), (0, 1));
    let values: Vec<_> = fetch_all(&mut client, "orders", 1, 0)
        .await
        .iter()
        .map(value_text)
        .collect();
    assert_eq!(values, ["a", "b", "c"]);

    // The state survives a restart: the retry of the last batch is still a duplicate.
    server.stop().await;
    let server = TestServer::start(dir.path()).await;
    let mut log = server.client().await.event_log;
    let retry = produce(&mut log, request(&producer, 2, &["c"]))
        .await
        .unwrap();
    assert!(retry.duplicate, "{retry:?}");
    let next = produce(&mut log, request(&producer, 3, &["d"]))
        .await
        .unwrap();
    assert_eq!((next.base_offset, next.duplicate), (3, false));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gaps_fenced_epochs_unknown_ids_and_bad_fields_get_precise_codes() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "orders", 2).await;
    let mut log = client.event_log.clone();

    let producer = init(&mut log, None).await;
    produce(&mut log, request(&producer, 0, &["a"]))
        .await
        .unwrap();
    let gap = produce(&mut log, request(&producer, 5, &["b"]))
        .await
        .unwrap_err();
    assert_eq!(gap.code(), Code::OutOfRange, "{gap:?}");
    assert_eq!(
        trailer(&gap, "eventlog-expected-sequence").as_deref(),
        Some("1")
    );

    let old = init(&mut log, Some("billing")).await;
    produce(&mut log, request(&old, 0, &["x"])).await.unwrap();
    let new = init(&mut log, Some("billing")).await;
    assert_eq!(
        (new.producer_id, new.producer_epoch),
        (old.producer_id, old.producer_epoch + 1)
    );
    let fenced = produce(&mut log, request(&old, 1, &["y"]))
        .await
        .unwrap_err();
    assert_eq!(fenced.code(), Code::FailedPrecondition, "{fenced:?}");
    assert!(fenced.message().contains("fenced"), "{}", fenced.message());
    assert_eq!(
        trailer(&fenced, "eventlog-producer-epoch"),
        Some(new.producer_epoch.to_string())
    );
    produce(&mut log, request(&new, 0, &["z"])).await.unwrap();

    let mut unknown = request(&producer, 0, &["u"]);
    unknown.producer_id = Some(i64::MAX - 1);
    let status = produce(&mut log, unknown).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("never issued"),
        "{}",
        status.message()
    );

    let bad: [(&str, Spoil); 4] = [
        ("needs a partition", |r| r.partition = None),
        ("is negative", |r| r.producer_id = Some(-2)),
        ("producer_epoch", |r| r.producer_epoch = 40_000),
        ("base_sequence", |r| r.base_sequence = u32::MAX),
    ];
    for (words, spoil) in bad {
        let mut spoiled = request(&producer, 1, &["v"]);
        spoil(&mut spoiled);
        let status = produce(&mut log, spoiled).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{words}: {status:?}");
        assert!(status.message().contains(words), "{}", status.message());
    }
    // Nothing refused was appended: "a", then "x" and "z".
    let values: Vec<_> = fetch_all(&mut client, "orders", 1, 0)
        .await
        .iter()
        .map(value_text)
        .collect();
    assert_eq!(values, ["a", "x", "z"]);
    server.stop().await;
}
