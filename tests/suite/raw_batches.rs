//! Raw batch delivery and producer-built batches against a live server: raw fetches and
//! subscriptions decode to exactly the records per-record delivery returns, a client
//! that does not declare version 2 is refused, good producer-built batches land beside
//! records produced the old way, and every bad batch is refused with nothing written.

use crate::common;

use bytes::Bytes;
use common::{TestServer, create_topic, fetch_all, produce};
use eventlog::client::Client;
use eventlog::client::batch_builder::build_batch;
use eventlog::client::producer::{Producer, ProducerOptions};
use eventlog::client::raw_batches::{DECODED_BATCH_VERSIONS, decode_records};
use eventlog::client::subscriber::Subscriber;
use eventlog::proto::v1 as pb;
use eventlog::proto::v1::subscribe_request::Start;
use eventlog::storage::batch::v2;
use tonic::Code;

fn records(n: usize, tag: &str) -> Vec<pb::Record> {
    (0..n)
        .map(|i| pb::Record {
            key: Some(Bytes::from(format!("{tag}-key-{i}"))),
            value: Some(Bytes::from(format!("{tag}-value-{i}"))),
            headers: vec![pb::Header {
                key: "h".into(),
                value: Bytes::from_static(b"v"),
            }],
            timestamp_ms: Some(1_700_000_000_000 + i as i64),
        })
        .collect()
}

fn raw_fetch(topic: &str, offset: u64, max_records: u32) -> pb::FetchRequest {
    pb::FetchRequest {
        topic: topic.into(),
        partition: 0,
        offset,
        max_records,
        delivery: pb::Delivery::RawBatches.into(),
        batch_versions: DECODED_BATCH_VERSIONS.to_vec(),
        ..Default::default()
    }
}

/// Every record from `offset` with raw fetches, decoded (CRCs checked) on this side.
async fn raw_fetch_all(client: &mut Client, topic: &str, mut offset: u64) -> Vec<pb::StoredRecord> {
    let mut out = Vec::new();
    loop {
        let reply = client
            .event_log
            .fetch(raw_fetch(topic, offset, 7))
            .await
            .unwrap()
            .into_inner();
        assert!(reply.records.is_empty(), "raw delivery sends no records");
        out.extend(decode_records(0, &reply.batches, offset).unwrap());
        if reply.next_offset >= reply.high_watermark {
            return out;
        }
        offset = reply.next_offset;
    }
}

async fn produce_batch(
    client: &mut Client,
    topic: &str,
    batch: Vec<u8>,
) -> Result<pb::ProduceResponse, tonic::Status> {
    client
        .event_log
        .produce(pb::ProduceRequest {
            topic: topic.into(),
            partition: Some(0),
            batch: Bytes::from(batch),
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_and_per_record_delivery_agree_for_old_and_new_producers() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "mixed", 1).await;

    // Old clients send records; new ones send batches they built.
    for round in 0..4 {
        produce(
            &mut client,
            "mixed",
            Some(0),
            records(5, &format!("old{round}")),
        )
        .await;
        let batch = build_batch(&records(6, &format!("new{round}")), None)
            .unwrap()
            .unwrap();
        let reply = produce_batch(&mut client, "mixed", batch.to_vec())
            .await
            .unwrap();
        let append = &reply.partitions[0];
        assert_eq!(append.last_offset - append.base_offset, 5);
    }
    let per_record = fetch_all(&mut client, "mixed", 0, 0).await;
    assert_eq!(per_record.len(), 44);
    assert_eq!(raw_fetch_all(&mut client, "mixed", 0).await, per_record);
    // From inside a batch: the records before the offset are skipped.
    assert_eq!(
        raw_fetch_all(&mut client, "mixed", 8).await,
        per_record[8..]
    );

    // A subscription with raw batches, from an offset inside a batch.
    let request = pb::SubscribeRequest {
        topic: "mixed".into(),
        partition: Some(0),
        start: Some(Start::Offset(13)),
        delivery: pb::Delivery::RawBatches.into(),
        batch_versions: vec![2],
        ..Default::default()
    };
    let mut subscriber = Subscriber::subscribe(client.clone(), request)
        .await
        .unwrap();
    let mut streamed = Vec::new();
    loop {
        let message = subscriber.next().await.unwrap();
        if message.caught_up {
            break;
        }
        streamed.extend(message.records);
    }
    assert_eq!(streamed, per_record[13..]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_delivery_needs_version_2_declared() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "t", 1).await;
    produce(&mut client, "t", Some(0), records(3, "a")).await;
    for versions in [vec![], vec![1], vec![3]] {
        let request = pb::FetchRequest {
            batch_versions: versions.clone(),
            ..raw_fetch("t", 0, 0)
        };
        let status = client.event_log.fetch(request).await.unwrap_err();
        assert_eq!(
            status.code(),
            Code::FailedPrecondition,
            "{versions:?}: {status}"
        );
        assert!(status.message().contains("version 2"), "{status}");
        let subscribe = pb::SubscribeRequest {
            topic: "t".into(),
            delivery: pb::Delivery::RawBatches.into(),
            batch_versions: versions.clone(),
            ..Default::default()
        };
        let status = client.event_log.subscribe(subscribe).await.unwrap_err();
        assert_eq!(
            status.code(),
            Code::FailedPrecondition,
            "{versions:?}: {status}"
        );
    }
    let unknown = pb::FetchRequest {
        delivery: 9,
        ..raw_fetch("t", 0, 0)
    };
    let status = client.event_log.fetch(unknown).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status}");
    server.stop().await;
}

/// Sets a big-endian field and recomputes the CRC, so only the field is wrong.
fn with_field(mut batch: Vec<u8>, at: usize, bytes: &[u8]) -> Vec<u8> {
    batch[at..at + bytes.len()].copy_from_slice(bytes);
    let crc = v2::crc32c(&batch[v2::ATTRIBUTES..]);
    batch[v2::CRC..v2::CRC + 4].copy_from_slice(&crc.to_be_bytes());
    batch
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_producer_built_batches_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "t", 1).await;
    let good = build_batch(&records(3, "g"), None)
        .unwrap()
        .unwrap()
        .to_vec();

    let mut bad_crc = good.clone();
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 0x40;
    let cases = [
        ("crc mismatch", bad_crc),
        (
            "record count",
            with_field(good.clone(), v2::RECORD_COUNT, &2i32.to_be_bytes()),
        ),
        ("length field", good[..good.len() - 3].to_vec()),
        ("shorter than", good[..20].to_vec()),
        (
            "base offset",
            with_field(good.clone(), v2::BASE_OFFSET, &5i64.to_be_bytes()),
        ),
        (
            "attributes",
            with_field(
                good.clone(),
                v2::ATTRIBUTES,
                &v2::ATTR_CONTROL.to_be_bytes(),
            ),
        ),
        (
            "holds 3",
            with_field(
                with_field(good.clone(), v2::RECORD_COUNT, &4i32.to_be_bytes()),
                v2::LAST_OFFSET_DELTA,
                &3i32.to_be_bytes(),
            ),
        ),
        (
            // Timestamps of its own, yet asking for the server's clock.
            "stamped on arrival",
            with_field(
                good.clone(),
                v2::ATTRIBUTES,
                &v2::ATTR_LOG_APPEND_TIME.to_be_bytes(),
            ),
        ),
    ];
    for (what, batch) in cases {
        let status = produce_batch(&mut client, "t", batch).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{what}: {status}");
        assert!(status.message().contains(what), "{what}: {status}");
    }
    // Fields that do not go with a batch.
    let mixed = pb::ProduceRequest {
        topic: "t".into(),
        partition: Some(0),
        records: records(1, "x"),
        batch: Bytes::from(good.clone()),
        ..Default::default()
    };
    let status = client.event_log.produce(mixed).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status}");
    let no_partition = pb::ProduceRequest {
        topic: "t".into(),
        batch: Bytes::from(good.clone()),
        ..Default::default()
    };
    let status = client.event_log.produce(no_partition).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status}");
    assert!(
        fetch_all(&mut client, "t", 0, 0).await.is_empty(),
        "nothing was written"
    );

    produce_batch(&mut client, "t", good).await.unwrap();
    assert_eq!(fetch_all(&mut client, "t", 0, 0).await.len(), 3);
    server.stop().await;
}

fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The default producer builds batches; records it sends without a timestamp still take
/// the server's clock, records with one keep theirs, and a request mixing both is sent
/// as records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_without_timestamps_from_a_batch_building_producer_take_the_server_clock() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "clock", 1).await;
    let options = ProducerOptions::default();
    assert!(
        options.build_batches,
        "producer-built batches are the default"
    );
    let mut producer = Producer::new(client.clone(), "clock", options)
        .await
        .unwrap();
    let untimed = |n: usize| -> Vec<pb::Record> {
        records(n, "u")
            .into_iter()
            .map(|r| pb::Record {
                timestamp_ms: None,
                ..r
            })
            .collect()
    };
    let before = wall_clock_ms();
    producer.send_to(0, untimed(3)).await.unwrap();
    let after = wall_clock_ms();
    producer.send_to(0, records(2, "t")).await.unwrap();
    let mut mixed = untimed(2);
    mixed.insert(1, records(1, "m").remove(0));
    producer.send_to(0, mixed).await.unwrap();

    // No records: the server's own refusal, not a batch of none.
    let empty = producer.send_to(0, Vec::new()).await.unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument, "{empty}");
    assert!(empty.message().contains("at least one record"), "{empty}");

    let stored = fetch_all(&mut client, "clock", 0, 0).await;
    let stamps: Vec<i64> = stored.iter().map(|r| r.timestamp_ms).collect();
    assert_eq!(stored.len(), 8, "{stamps:?}");
    for stamp in &stamps[..3] {
        assert!(
            (before..=after).contains(stamp),
            "{before}..={after}: {stamps:?}"
        );
    }
    assert_eq!(stamps[3..5], [1_700_000_000_000, 1_700_000_000_001]);
    assert_eq!(stamps[6], 1_700_000_000_000, "{stamps:?}");
    assert!(stamps[5] >= after && stamps[7] >= after, "{stamps:?}");
    let values: Vec<_> = stored.iter().map(|r| r.value.clone().unwrap()).collect();
    assert_eq!(values[0], Bytes::from("u-value-0"));
    assert_eq!(values[6], Bytes::from("m-value-0"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotent_producer_built_batch_is_appended_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "t", 1).await;
    let identity = client
        .event_log
        .init_producer(pb::InitProducerRequest::default())
        .await
        .unwrap()
        .into_inner();
    let producer = Some((identity.producer_id, identity.producer_epoch, 0));
    let batch = build_batch(&records(4, "i"), producer)
        .unwrap()
        .unwrap()
        .to_vec();
    let first = produce_batch(&mut client, "t", batch.clone())
        .await
        .unwrap();
    let retry = produce_batch(&mut client, "t", batch).await.unwrap();
    assert!(!first.partitions[0].duplicate && retry.partitions[0].duplicate);
    assert_eq!(
        first.partitions[0].base_offset,
        retry.partitions[0].base_offset
    );
    // A producer id the server never issued is refused.
    let stranger = build_batch(&records(1, "s"), Some((identity.producer_id + 1000, 0, 0)))
        .unwrap()
        .unwrap();
    let status = produce_batch(&mut client, "t", stranger.to_vec())
        .await
        .unwrap_err();
    assert_ne!(status.code(), Code::Ok);
    assert_eq!(fetch_all(&mut client, "t", 0, 0).await.len(), 4);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_member_reads_raw_batches_from_a_commit_inside_a_batch() {
    use eventlog::client::group_member::{GroupMember, MemberEvent, MemberOptions};
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "g", 1).await;
    produce(&mut client, "g", Some(0), records(5, "a")).await;
    produce(&mut client, "g", Some(0), records(5, "b")).await;
    let per_record = fetch_all(&mut client, "g", 0, 0).await;
    common::commit(&mut client, "members", "g", &[(0, 3)])
        .await
        .unwrap();
    let options = MemberOptions {
        group: "members".into(),
        topics: vec!["g".into()],
        ..Default::default()
    };
    let mut member = GroupMember::join(&client, options).await.unwrap();
    let mut got = Vec::new();
    while got.len() < per_record.len() - 3 {
        match member.next().await.unwrap() {
            MemberEvent::Records { records, .. } => got.extend(records),
            MemberEvent::Assignment { .. } => {}
        }
    }
    assert_eq!(got, per_record[3..]);
    server.stop().await;
}
