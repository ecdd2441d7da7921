//! The Kafka listener at the protocol level, with requests built by the
//! `kafka-protocol` crate: long-poll and byte limits of Fetch, acks=0, ListOffsets,
//! topic auto-creation behind its flag, topic admin and ListGroups, and the refusal
//! to run beside token authentication beyond loopback. Real clients are in `kafka_clients.rs`.

use crate::common;
use crate::kafka_support;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use common::{TestServer, create_topic, fetch_all, produce, record};
use eventlog::kafka::KafkaConfig;
use eventlog::proto::v1 as pb;
use eventlog::service::ServerConfig;
use eventlog::service::tokens::TokenTable;
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, FetchRequest, FetchResponse, ListGroupsRequest,
    ListGroupsResponse, ListOffsetsRequest, ListOffsetsResponse, MetadataRequest, MetadataResponse,
    ProduceRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use kafka_support::{Conn, name};
use tokio::io::AsyncReadExt;

/// A server with a Kafka listener.
async fn start(dir: &std::path::Path, auto_create: bool) -> (TestServer, SocketAddr) {
    let (server, addr) = kafka_support::start_with(dir, |config| {
        if let Some(kafka) = config.kafka.as_mut() {
            kafka.auto_create_topics = auto_create;
        }
    })
    .await;
    let _ = server.client().await;
    (server, addr)
}

fn fetch_request(
    topic: &str,
    partitions: &[(i32, i64, i32)],
    max_wait_ms: i32,
    max_bytes: i32,
) -> FetchRequest {
    let partitions = partitions
        .iter()
        .map(|&(partition, offset, partition_max_bytes)| {
            FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(partition_max_bytes)
        })
        .collect();
    FetchRequest::default()
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(max_bytes)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(name(topic))
                .with_partitions(partitions),
        ])
}

/// Offsets and values of the records of each partition of a Fetch answer.
fn fetched(response: &FetchResponse) -> Vec<Vec<(i64, String)>> {
    response.responses[0]
        .partitions
        .iter()
        .map(|p| {
            assert_eq!(p.error_code, 0, "partition {}", p.partition_index);
            let mut records = p.records.clone().unwrap_or_default();
            let mut out = Vec::new();
            while records.has_remaining() {
                let set = RecordBatchDecoder::decode(&mut records).expect("batch");
                out.extend(set.records.into_iter().map(|r| {
                    (
                        r.offset,
                        String::from_utf8_lossy(&r.value.unwrap_or_default()).into_owned(),
                    )
                }));
            }
            out
        })
        .collect()
}

fn values(range: std::ops::Range<u32>) -> Vec<pb::Record> {
    range
        .map(|i| record(None, Some(&format!("{i:04}-{}", "x".repeat(200)))))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_waits_for_data_and_keeps_to_its_byte_limits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, addr) = start(dir.path(), false).await;
    let mut client = server.client().await;
    create_topic(&mut client, "f", 2).await;
    // One batch per record, so that byte limits cut between records.
    for i in 0..10 {
        produce(&mut client, "f", Some(0), values(i..i + 1)).await;
        produce(&mut client, "f", Some(1), values(i..i + 1)).await;
    }
    let mut conn = Conn::open(addr).await;

    // Per-partition limit: one byte still returns the first batch, and only it.
    let one = fetch_request("f", &[(0, 3, 1)], 0, 1 << 20);
    let answer: FetchResponse = conn.call(ApiKey::Fetch, 12, &one).await;
    let got = fetched(&answer);
    assert_eq!(got[0].iter().map(|r| r.0).collect::<Vec<_>>(), vec![3]);
    assert_eq!(answer.responses[0].partitions[0].high_watermark, 10);

    // Request limit: spent by the first partition, nothing left for the second.
    let both = fetch_request("f", &[(0, 0, 1 << 20), (1, 0, 1 << 20)], 0, 1);
    let got = fetched(&conn.call(ApiKey::Fetch, 12, &both).await);
    assert_eq!((got[0].len(), got[1].len()), (1, 0));

    // Long-poll: a fetch at the end waits until a record arrives, then returns it.
    let tail = fetch_request("f", &[(1, 10, 1 << 20)], 30_000, 1 << 20);
    let id = conn.send(ApiKey::Fetch, 12, &tail).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    produce(&mut client, "f", Some(1), vec![record(None, Some("late"))]).await;
    let got = fetched(&conn.receive(ApiKey::Fetch, 12, id).await);
    assert_eq!(got[0], vec![(10, "late".to_string())]);

    // min_bytes: the answer waits until enough bytes arrived, not just the first record.
    let enough = fetch_request("f", &[(1, 11, 1 << 20)], 30_000, 1 << 20).with_min_bytes(600);
    let id = conn.send(ApiKey::Fetch, 12, &enough).await;
    for i in 11..14 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        produce(&mut client, "f", Some(1), values(i..i + 1)).await;
    }
    let got = fetched(&conn.receive(ApiKey::Fetch, 12, id).await);
    let offsets: Vec<i64> = got[0].iter().map(|r| r.0).collect();
    assert_eq!(
        offsets,
        vec![11, 12, 13],
        "two records are under 600 bytes, three above"
    );

    // With nothing arriving, max_wait_ms ends the wait with an empty answer.
    let idle = fetch_request("f", &[(0, 10, 1 << 20)], 100, 1 << 20);
    let got = fetched(&conn.call(ApiKey::Fetch, 12, &idle).await);
    assert!(got[0].is_empty());

    // Past the end: OFFSET_OUT_OF_RANGE with the bounds to reset to.
    let past = fetch_request("f", &[(0, 99, 1 << 20)], 0, 1 << 20);
    let answer: FetchResponse = conn.call(ApiKey::Fetch, 12, &past).await;
    let partition = &answer.responses[0].partitions[0];
    assert_eq!((partition.error_code, partition.high_watermark), (1, 10));

    // Batches go out whole, as Kafka sends them: a fetch from inside one returns it
    // all (the client skips the records before its offset).
    produce(&mut client, "f", Some(0), values(10..13)).await;
    let inside = fetch_request("f", &[(0, 11, 1)], 0, 1 << 20);
    let got = fetched(&conn.call(ApiKey::Fetch, 12, &inside).await);
    let offsets: Vec<i64> = got[0].iter().map(|r| r.0).collect();
    assert_eq!(offsets, vec![10, 11, 12]);
    server.stop().await;
}

fn produce_request(topic: &str, acks: i16, value: &str) -> ProduceRequest {
    let record = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 1_700_000_000_000,
        key: None,
        value: Some(Bytes::from(value.to_string())),
        headers: IndexMap::new(),
    };
    let mut batch = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::Lz4,
    };
    RecordBatchEncoder::encode(&mut batch, [&record], &options).expect("batch");
    let data = PartitionProduceData::default()
        .with_index(0)
        .with_records(Some(batch.freeze()));
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(name(topic))
                .with_partition_data(vec![data]),
        ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_zero_appends_without_an_answer_and_offsets_list_by_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, addr) = start(dir.path(), false).await;
    let mut client = server.client().await;
    create_topic(&mut client, "acks", 1).await;
    let mut conn = Conn::open(addr).await;
    conn.send(
        ApiKey::Produce,
        9,
        &produce_request("acks", 0, "fire and forget"),
    )
    .await;
    // The next answer on the connection is the ApiVersions one: no produce answer came.
    let versions: ApiVersionsResponse = conn
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    assert_eq!(versions.error_code, 0);
    let stored = fetch_all(&mut client, "acks", 0, 0).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].value.as_deref(), Some(&b"fire and forget"[..]));

    // acks=1 answers with the offset.
    let answer: kafka_protocol::messages::ProduceResponse = conn
        .call(ApiKey::Produce, 9, &produce_request("acks", 1, "second"))
        .await;
    let partition = &answer.responses[0].partition_responses[0];
    assert_eq!((partition.error_code, partition.base_offset), (0, 1));

    // Earliest, latest, and the first at or after a time.
    let timed: Vec<pb::Record> = (0..3)
        .map(|i| pb::Record {
            timestamp_ms: Some(1_750_000_000_000 + i * 1000),
            ..record(None, Some("timed"))
        })
        .collect();
    produce(&mut client, "acks", Some(0), timed).await;
    let asked = |timestamp| {
        ListOffsetsPartition::default()
            .with_partition_index(0)
            .with_timestamp(timestamp)
    };
    let request = ListOffsetsRequest::default().with_topics(vec![
        ListOffsetsTopic::default()
            .with_name(name("acks"))
            .with_partitions(vec![
                asked(-2),
                asked(-1),
                asked(1_750_000_000_500),
                asked(1_760_000_000_000),
            ]),
    ]);
    let answer: ListOffsetsResponse = conn.call(ApiKey::ListOffsets, 7, &request).await;
    let got: Vec<(i16, i64, i64)> = answer.topics[0]
        .partitions
        .iter()
        .map(|p| (p.error_code, p.offset, p.timestamp))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, 0, -1),
            (0, 5, -1),
            (0, 3, 1_750_000_001_000),
            (0, -1, -1)
        ]
    );

    // A failed acks=0 produce closes its connection: the producer's only way to know.
    let mut doomed = Conn::open(addr).await;
    doomed
        .send(ApiKey::Produce, 9, &produce_request("missing", 0, "lost"))
        .await;
    let closed = doomed.stream().read_u32().await;
    assert_eq!(
        closed.map_err(|e| e.kind()),
        Err(std::io::ErrorKind::UnexpectedEof)
    );
    server.stop().await;
}

fn metadata_for(topic: &str) -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name(topic))),
        ]))
        .with_allow_auto_topic_creation(true)
}

async fn topic_names(client: &mut eventlog::client::Client) -> Vec<String> {
    let listed = client
        .admin
        .list_topics(pb::ListTopicsRequest::default())
        .await
        .expect("list topics")
        .into_inner();
    listed.topics.into_iter().map(|t| t.name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_creates_missing_topics_only_when_enabled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, addr) = start(dir.path(), false).await;
    let mut client = server.client().await;
    let mut conn = Conn::open(addr).await;
    let answer: MetadataResponse = conn.call(ApiKey::Metadata, 12, &metadata_for("nope")).await;
    assert_eq!(answer.topics[0].error_code, 3, "UNKNOWN_TOPIC_OR_PARTITION");
    assert_eq!(answer.brokers[0].port, i32::from(addr.port()));
    assert!(topic_names(&mut client).await.is_empty());
    drop(conn);
    server.stop().await;

    let (server, addr) = start(dir.path(), true).await;
    let mut client = server.client().await;
    let mut conn = Conn::open(addr).await;
    let answer: MetadataResponse = conn.call(ApiKey::Metadata, 12, &metadata_for("auto")).await;
    assert_eq!(
        (
            answer.topics[0].error_code,
            answer.topics[0].partitions.len()
        ),
        (0, 1)
    );
    assert_eq!(topic_names(&mut client).await, vec!["auto".to_string()]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_created_and_deleted_and_groups_listed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, addr) = start(dir.path(), false).await;
    let mut client = server.client().await;
    let mut conn = Conn::open(addr).await;
    let config = |key: &str, value: &str| {
        CreatableTopicConfig::default()
            .with_name(StrBytes::from_string(key.into()))
            .with_value(Some(StrBytes::from_string(value.into())))
    };
    let topic = |topic: &str, partitions: i32, replication: i16, configs| {
        CreatableTopic::default()
            .with_name(name(topic))
            .with_num_partitions(partitions)
            .with_replication_factor(replication)
            .with_configs(configs)
    };
    let request = CreateTopicsRequest::default().with_topics(vec![
        topic(
            "made",
            3,
            1,
            vec![
                config("retention.ms", "60000"),
                config("cleanup.policy", "compact"),
            ],
        ),
        topic("replicated", 1, 3, vec![]),
        topic(
            "odd-config",
            1,
            -1,
            vec![config("compression.type", "zstd")],
        ),
    ]);
    let answer: CreateTopicsResponse = conn.call(ApiKey::CreateTopics, 7, &request).await;
    let codes: Vec<i16> = answer.topics.iter().map(|t| t.error_code).collect();
    assert_eq!(
        codes,
        vec![0, 38, 40],
        "created, INVALID_REPLICATION_FACTOR, INVALID_CONFIG"
    );
    let described = client
        .admin
        .describe_topic(pb::DescribeTopicRequest {
            name: "made".into(),
        })
        .await
        .expect("describe")
        .into_inner();
    let summary = described.topic.expect("topic");
    assert_eq!(summary.partitions, 3);
    let config = summary.config.expect("config");
    assert_eq!(config.retention_ms, Some(60_000));

    common::commit(&mut client, "listed-group", "made", &[(0, 0)])
        .await
        .expect("commit");
    let groups: ListGroupsResponse = conn
        .call(ApiKey::ListGroups, 4, &ListGroupsRequest::default())
        .await;
    let listed: Vec<&str> = groups.groups.iter().map(|g| g.group_id.as_str()).collect();
    assert_eq!(listed, vec!["listed-group"]);

    let delete = DeleteTopicsRequest::default().with_topic_names(vec![name("made"), name("never")]);
    let answer: DeleteTopicsResponse = conn.call(ApiKey::DeleteTopics, 5, &delete).await;
    let codes: Vec<i16> = answer.responses.iter().map(|t| t.error_code).collect();
    assert_eq!(codes, vec![0, 3]);
    assert!(topic_names(&mut client).await.is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kafka_listener_is_refused_beside_token_authentication_beyond_loopback() {
    let dir = tempfile::tempdir().expect("tempdir");
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe");
    // Beyond loopback: PLAIN would carry tokens in the clear, and there is no TLS.
    let port = probe.local_addr().expect("addr").port();
    let kafka = KafkaConfig::new(([0, 0, 0, 0], port).into());
    drop(probe);
    let grpc = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let config = ServerConfig {
        broker: eventlog::broker::BrokerConfig {
            data_dir: dir.path().to_path_buf(),
            ..Default::default()
        },
        auth: Some(TokenTable::parse("a-long-enough-secret-token admin").expect("tokens")),
        kafka: Some(kafka),
        ..ServerConfig::default()
    };
    let err = eventlog::service::serve(config, grpc, std::future::pending())
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("SASL"), "{err}");
}

/// A produce of `count` records as producer `id` at `epoch`, from sequence `first`.
fn idempotent_produce(topic: &str, id: i64, epoch: i16, first: i32, count: i32) -> ProduceRequest {
    let records: Vec<Record> = (0..count)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: id,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i64::from(i),
            sequence: first + i,
            timestamp: 1_700_000_000_000,
            key: None,
            value: Some(Bytes::from(format!("seq {}", first + i))),
            headers: IndexMap::new(),
        })
        .collect();
    let mut batch = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::Gzip,
    };
    RecordBatchEncoder::encode(&mut batch, &records, &options).expect("batch");
    let data = PartitionProduceData::default()
        .with_index(0)
        .with_records(Some(batch.freeze()));
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(name(topic))
                .with_partition_data(vec![data]),
        ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_producers_get_retries_deduplicated_and_gaps_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, addr) = start(dir.path(), false).await;
    let mut client = server.client().await;
    create_topic(&mut client, "idem", 1).await;
    let mut conn = Conn::open(addr).await;
    let init: kafka_protocol::messages::InitProducerIdResponse = conn
        .call(
            ApiKey::InitProducerId,
            4,
            &kafka_protocol::messages::InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60_000),
        )
        .await;
    assert_eq!(init.error_code, 0);
    let (id, epoch) = (init.producer_id.0, init.producer_epoch);
    let mut produce = async |first, count| -> (i16, i64) {
        let answer: kafka_protocol::messages::ProduceResponse = conn
            .call(
                ApiKey::Produce,
                9,
                &idempotent_produce("idem", id, epoch, first, count),
            )
            .await;
        let partition = &answer.responses[0].partition_responses[0];
        (partition.error_code, partition.base_offset)
    };
    assert_eq!(produce(0, 2).await, (0, 0));
    assert_eq!(produce(2, 3).await, (0, 2));
    // A retry of the first batch: its original offset, nothing appended.
    assert_eq!(produce(0, 2).await, (0, 0));
    // A gap in the sequence: OUT_OF_ORDER_SEQUENCE_NUMBER.
    assert_eq!(produce(9, 1).await.0, 45);
    let stored = fetch_all(&mut client, "idem", 0, 0).await;
    let values: Vec<String> = stored
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect();
    assert_eq!(values, ["seq 0", "seq 1", "seq 2", "seq 3", "seq 4"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_committed_over_grpc_are_fetched_over_kafka_at_every_version() {
    use kafka_protocol::messages::offset_fetch_request::{
        OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
    };
    use kafka_protocol::messages::{GroupId, OffsetFetchRequest, OffsetFetchResponse};

    let dir = tempfile::tempdir().expect("tempdir");
    let (server, addr) = start(dir.path(), false).await;
    let mut client = server.client().await;
    create_topic(&mut client, "committed", 2).await;
    produce(&mut client, "committed", Some(0), values(0..5)).await;
    common::commit(&mut client, "grpc-group", "committed", &[(0, 4)])
        .await
        .expect("commit");
    let mut conn = Conn::open(addr).await;
    let group = || GroupId(StrBytes::from_static_str("grpc-group"));

    // Versions 1 to 7: one group; partition 1 has no commit (-1).
    for version in [1, 5, 7] {
        let request = OffsetFetchRequest::default()
            .with_group_id(group())
            .with_topics(Some(vec![
                OffsetFetchRequestTopic::default()
                    .with_name(name("committed"))
                    .with_partition_indexes(vec![0, 1]),
            ]));
        let answer: OffsetFetchResponse = conn.call(ApiKey::OffsetFetch, version, &request).await;
        let got: Vec<(i32, i64, i16)> = answer.topics[0]
            .partitions
            .iter()
            .map(|p| (p.partition_index, p.committed_offset, p.error_code))
            .collect();
        assert_eq!(got, vec![(0, 4, 0), (1, -1, 0)], "version {version}");
    }

    // Version 8: a list of groups; all topics when none are named.
    let request = OffsetFetchRequest::default().with_groups(vec![
        OffsetFetchRequestGroup::default()
            .with_group_id(group())
            .with_topics(None),
        OffsetFetchRequestGroup::default()
            .with_group_id(group())
            .with_topics(Some(vec![
                OffsetFetchRequestTopics::default()
                    .with_name(name("committed"))
                    .with_partition_indexes(vec![0]),
            ])),
    ]);
    let answer: OffsetFetchResponse = conn.call(ApiKey::OffsetFetch, 8, &request).await;
    for group in &answer.groups {
        let got: Vec<(&str, i32, i64)> = group
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(move |p| (t.name.as_str(), p.partition_index, p.committed_offset))
            })
            .collect();
        assert_eq!(got, vec![("committed", 0, 4)]);
    }
    assert_eq!(answer.groups.len(), 2);
    server.stop().await;
}

/// The group-membership APIs at the protocol level: KIP-394's two-step join, the
/// coordinator's assignment handed out in SyncGroup, a rebalance when a second member
/// joins, fenced commits, describe, leave and delete, and every refusal's error code.
mod groups {
    use std::collections::BTreeSet;
    use std::time::Instant;

    use bytes::BufMut;
    use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
    use kafka_protocol::messages::leave_group_request::MemberIdentity;
    use kafka_protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    use kafka_protocol::messages::{
        ConsumerProtocolAssignment, ConsumerProtocolSubscription, DeleteGroupsRequest,
        DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse, GroupId,
        HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse,
        LeaveGroupRequest, LeaveGroupResponse, OffsetCommitRequest, OffsetCommitResponse,
        SyncGroupRequest, SyncGroupResponse,
    };

    use super::*;

    const GROUP: &str = "kgroup";
    const TOPIC: &str = "kgroup-topic";
    const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    const ILLEGAL_GENERATION: i16 = 22;
    const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
    const INVALID_GROUP_ID: i16 = 24;
    const UNKNOWN_MEMBER_ID: i16 = 25;
    const INVALID_SESSION_TIMEOUT: i16 = 26;
    const REBALANCE_IN_PROGRESS: i16 = 27;
    const INVALID_REQUEST: i16 = 42;
    const NON_EMPTY_GROUP: i16 = 68;
    const GROUP_ID_NOT_FOUND: i16 = 69;
    const MEMBER_ID_REQUIRED: i16 = 79;

    fn text(value: &str) -> StrBytes {
        StrBytes::from_string(value.to_string())
    }

    fn group() -> GroupId {
        GroupId(text(GROUP))
    }

    fn subscription(topics: &[&str]) -> Bytes {
        let mut out = BytesMut::new();
        out.put_i16(1);
        ConsumerProtocolSubscription::default()
            .with_topics(topics.iter().map(|t| text(t)).collect())
            .encode(&mut out, 1)
            .expect("subscription");
        out.freeze()
    }

    fn join_request(member: &str, metadata: Bytes) -> JoinGroupRequest {
        JoinGroupRequest::default()
            .with_group_id(group())
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(20_000)
            .with_member_id(text(member))
            .with_protocol_type(text("consumer"))
            .with_protocols(vec![
                JoinGroupRequestProtocol::default()
                    .with_name(text("range"))
                    .with_metadata(metadata),
            ])
    }

    async fn join(conn: &mut Conn, version: i16, request: JoinGroupRequest) -> JoinGroupResponse {
        conn.call(ApiKey::JoinGroup, version, &request).await
    }

    /// Joins in two steps (KIP-394); returns the member id and generation.
    async fn join_member(conn: &mut Conn) -> (String, i32) {
        let first = join(conn, 5, join_request("", subscription(&[TOPIC]))).await;
        assert_eq!(first.error_code, MEMBER_ID_REQUIRED);
        let id = first.member_id.as_str().to_string();
        assert!(!id.is_empty());
        let joined = join(conn, 5, join_request(&id, subscription(&[TOPIC]))).await;
        assert_eq!(joined.error_code, 0);
        assert_eq!(joined.member_id.as_str(), id);
        assert_eq!(
            joined.protocol_name.as_ref().map(|p| p.as_str()),
            Some("range")
        );
        // No member leads: the coordinator assigns.
        assert_ne!(joined.leader.as_str(), id);
        (id, joined.generation_id)
    }

    async fn sync(conn: &mut Conn, member: &str, generation: i32) -> (i16, BTreeSet<i32>) {
        let request = SyncGroupRequest::default()
            .with_group_id(group())
            .with_generation_id(generation)
            .with_member_id(text(member))
            .with_protocol_type(Some(text("consumer")))
            .with_protocol_name(Some(text("range")));
        let answer: SyncGroupResponse = conn.call(ApiKey::SyncGroup, 5, &request).await;
        (answer.error_code, partitions_of(answer.assignment))
    }

    fn partitions_of(mut assignment: Bytes) -> BTreeSet<i32> {
        if assignment.is_empty() {
            return BTreeSet::new();
        }
        let version = assignment.get_i16();
        let decoded = ConsumerProtocolAssignment::decode(&mut assignment, version).expect("decode");
        decoded
            .assigned_partitions
            .iter()
            .inspect(|t| assert_eq!(t.topic.as_str(), TOPIC))
            .flat_map(|t| t.partitions.clone())
            .collect()
    }

    async fn heartbeat(conn: &mut Conn, member: &str, generation: i32) -> i16 {
        let request = HeartbeatRequest::default()
            .with_group_id(group())
            .with_generation_id(generation)
            .with_member_id(text(member));
        let answer: HeartbeatResponse = conn.call(ApiKey::Heartbeat, 4, &request).await;
        answer.error_code
    }

    async fn commit(conn: &mut Conn, member: &str, generation: i32, partition: i32) -> i16 {
        let request = OffsetCommitRequest::default()
            .with_group_id(group())
            .with_generation_id_or_member_epoch(generation)
            .with_member_id(text(member))
            .with_topics(vec![
                OffsetCommitRequestTopic::default()
                    .with_name(name(TOPIC))
                    .with_partitions(vec![
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(partition)
                            .with_committed_offset(2),
                    ]),
            ]);
        let answer: OffsetCommitResponse = conn.call(ApiKey::OffsetCommit, 8, &request).await;
        answer.topics[0].partitions[0].error_code
    }

    async fn describe(conn: &mut Conn, version: i16, group_name: &str) -> DescribeGroupsResponse {
        let request = DescribeGroupsRequest::default().with_groups(vec![GroupId(text(group_name))]);
        conn.call(ApiKey::DescribeGroups, version, &request).await
    }

    async fn delete(conn: &mut Conn) -> i16 {
        let request = DeleteGroupsRequest::default().with_groups_names(vec![group()]);
        let answer: DeleteGroupsResponse = conn.call(ApiKey::DeleteGroups, 2, &request).await;
        answer.results[0].error_code
    }

    #[tokio::test]
    async fn bad_group_requests_get_their_error_codes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (server, addr) = start(dir.path(), false).await;
        let mut client = server.client().await;
        create_topic(&mut client, TOPIC, 4).await;
        let mut conn = Conn::open(addr).await;

        let nameless = join_request("", subscription(&[TOPIC])).with_group_id(GroupId(text("")));
        assert_eq!(
            join(&mut conn, 3, nameless).await.error_code,
            INVALID_GROUP_ID
        );
        let unknown = join(&mut conn, 5, join_request("bogus", subscription(&[TOPIC]))).await;
        assert_eq!(unknown.error_code, UNKNOWN_MEMBER_ID);
        let connect = join_request("", subscription(&[TOPIC])).with_protocol_type(text("connect"));
        assert_eq!(
            join(&mut conn, 3, connect).await.error_code,
            INCONSISTENT_GROUP_PROTOCOL
        );
        let garbage = join_request("", Bytes::from_static(&[0xff, 0xff, 1]));
        assert_eq!(
            join(&mut conn, 3, garbage).await.error_code,
            INCONSISTENT_GROUP_PROTOCOL
        );
        let none = join_request("", subscription(&[TOPIC])).with_protocols(vec![]);
        assert_eq!(
            join(&mut conn, 3, none).await.error_code,
            INCONSISTENT_GROUP_PROTOCOL
        );
        let fast = join_request("", subscription(&[TOPIC])).with_session_timeout_ms(10);
        assert_eq!(
            join(&mut conn, 3, fast).await.error_code,
            INVALID_SESSION_TIMEOUT
        );
        let missing = join_request("", subscription(&["no-such-topic"]));
        assert_eq!(
            join(&mut conn, 3, missing).await.error_code,
            UNKNOWN_TOPIC_OR_PARTITION
        );
        let static_member =
            join_request("", subscription(&[TOPIC])).with_group_instance_id(Some(text("i-1")));
        assert_eq!(
            join(&mut conn, 5, static_member).await.error_code,
            INVALID_REQUEST
        );

        let (sync_code, _) = sync(&mut conn, "bogus", 1).await;
        assert_eq!(sync_code, UNKNOWN_MEMBER_ID);
        assert_eq!(heartbeat(&mut conn, "bogus", 1).await, UNKNOWN_MEMBER_ID);
        assert_eq!(commit(&mut conn, "bogus", 1, 0).await, UNKNOWN_MEMBER_ID);
        // A generation without a member id, and a member id without a generation.
        assert_eq!(commit(&mut conn, "", 3, 0).await, UNKNOWN_MEMBER_ID);
        assert_eq!(commit(&mut conn, "bogus", -1, 0).await, ILLEGAL_GENERATION);

        let (member, generation) = join_member(&mut conn).await;
        assert_eq!(
            sync(&mut conn, &member, generation + 1).await.0,
            ILLEGAL_GENERATION
        );
        let (code, assigned) = sync(&mut conn, &member, generation).await;
        assert_eq!((code, assigned), (0, BTreeSet::from([0, 1, 2, 3])));
        assert_eq!(heartbeat(&mut conn, &member, generation).await, 0);
        assert_eq!(
            heartbeat(&mut conn, &member, generation + 7).await,
            ILLEGAL_GENERATION
        );
        // Another member's subscription must match the group's topics.
        create_topic(&mut client, "other-topic", 1).await;
        let mut other = Conn::open(addr).await;
        let differs = join_request("", subscription(&["other-topic"]));
        assert_eq!(
            join(&mut other, 3, differs).await.error_code,
            INCONSISTENT_GROUP_PROTOCOL
        );

        produce(&mut client, TOPIC, Some(0), values(0..3)).await;
        assert_eq!(
            commit(&mut conn, &member, generation + 9, 0).await,
            ILLEGAL_GENERATION
        );
        assert_eq!(commit(&mut conn, &member, generation, 0).await, 0);
        // A simple consumer's commit, and deleting the group, wait for it to be empty.
        assert_eq!(commit(&mut conn, "", -1, 0).await, NON_EMPTY_GROUP);
        assert_eq!(delete(&mut conn).await, NON_EMPTY_GROUP);

        let leave = LeaveGroupRequest::default()
            .with_group_id(group())
            .with_members(vec![
                MemberIdentity::default().with_member_id(text(&member)),
                MemberIdentity::default().with_member_id(text("bogus")),
            ]);
        let left: LeaveGroupResponse = conn.call(ApiKey::LeaveGroup, 3, &leave).await;
        let codes: Vec<i16> = left.members.iter().map(|m| m.error_code).collect();
        assert_eq!(codes, vec![0, UNKNOWN_MEMBER_ID]);
        assert_eq!(
            heartbeat(&mut conn, &member, generation).await,
            UNKNOWN_MEMBER_ID
        );

        let empty = describe(&mut conn, 5, GROUP).await;
        assert_eq!(empty.groups[0].group_state.as_str(), "Empty");
        assert_eq!(delete(&mut conn).await, 0);
        assert_eq!(delete(&mut conn).await, GROUP_ID_NOT_FOUND);
        let gone = describe(&mut conn, 6, GROUP).await;
        assert_eq!(gone.groups[0].error_code, GROUP_ID_NOT_FOUND);
        let dead = describe(&mut conn, 5, GROUP).await;
        assert_eq!(
            (
                dead.groups[0].error_code,
                dead.groups[0].group_state.as_str()
            ),
            (0, "Dead")
        );
        server.stop().await;
    }

    #[tokio::test]
    async fn a_second_member_gets_its_share_after_the_first_rejoins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (server, addr) = start(dir.path(), false).await;
        let mut client = server.client().await;
        create_topic(&mut client, TOPIC, 4).await;
        let mut first = Conn::open(addr).await;
        let (one, generation) = join_member(&mut first).await;
        let (_, all) = sync(&mut first, &one, generation).await;
        assert_eq!(all.len(), 4);

        // The second member joins at version 3 (no member id needed); its JoinGroup
        // waits until the first member gives up its share.
        let mut second = Conn::open(addr).await;
        let joining = tokio::spawn(async move {
            let joined = join(&mut second, 3, join_request("", subscription(&[TOPIC]))).await;
            (second, joined)
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let code = heartbeat(&mut first, &one, generation).await;
            if code == REBALANCE_IN_PROGRESS {
                break;
            }
            assert_eq!(code, 0);
            assert!(
                Instant::now() < deadline,
                "the first member is never told to rejoin"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The first member (eager "range") gave up everything and rejoins.
        let rejoined = join(&mut first, 5, join_request(&one, subscription(&[TOPIC]))).await;
        assert_eq!(rejoined.error_code, 0);
        let (mut second, joined) = joining.await.expect("join task");
        assert_eq!(joined.error_code, 0);
        let two = joined.member_id.as_str().to_string();
        assert_eq!(joined.generation_id, rejoined.generation_id);
        let (code_one, mine) = sync(&mut first, &one, rejoined.generation_id).await;
        let (code_two, theirs) = sync(&mut second, &two, joined.generation_id).await;
        assert_eq!((code_one, code_two), (0, 0));
        assert_eq!((mine.len(), theirs.len()), (2, 2));
        assert!(mine.is_disjoint(&theirs));
        assert_eq!(heartbeat(&mut first, &one, rejoined.generation_id).await, 0);
        // The generation the first member had before is no longer its.
        assert_eq!(
            heartbeat(&mut first, &one, generation).await,
            ILLEGAL_GENERATION
        );
        // Only a partition's owner commits it.
        let owned = *theirs.first().expect("a partition");
        assert_eq!(
            commit(&mut first, &one, rejoined.generation_id, owned).await,
            ILLEGAL_GENERATION
        );

        let described = describe(&mut first, 5, GROUP).await;
        let group = &described.groups[0];
        assert_eq!(group.group_state.as_str(), "Stable");
        assert_eq!(group.protocol_data.as_str(), "range");
        let mut shown: Vec<(String, String, BTreeSet<i32>)> = group
            .members
            .iter()
            .map(|m| {
                (
                    m.member_id.as_str().to_string(),
                    m.client_id.as_str().to_string(),
                    partitions_of(m.member_assignment.clone()),
                )
            })
            .collect();
        shown.sort();
        let mut expected = vec![
            (one.clone(), kafka_support::CLIENT_ID.to_string(), mine),
            (two.clone(), kafka_support::CLIENT_ID.to_string(), theirs),
        ];
        expected.sort();
        assert_eq!(shown, expected);

        // Listed with its members, though it has no commits yet.
        let listed: ListGroupsResponse = first
            .call(ApiKey::ListGroups, 4, &ListGroupsRequest::default())
            .await;
        let states: Vec<(&str, &str)> = listed
            .groups
            .iter()
            .map(|g| (g.group_id.as_str(), g.group_state.as_str()))
            .collect();
        assert_eq!(states, vec![(GROUP, "Stable")]);
        let only_empty = ListGroupsRequest::default().with_states_filter(vec![text("Empty")]);
        let listed: ListGroupsResponse = first.call(ApiKey::ListGroups, 4, &only_empty).await;
        assert!(listed.groups.is_empty());

        // The first member leaves (version 1: one member id); the second is told to
        // rejoin and then reads every partition.
        let leave = LeaveGroupRequest::default()
            .with_group_id(GroupId(text(GROUP)))
            .with_member_id(text(&one));
        let left: LeaveGroupResponse = first.call(ApiKey::LeaveGroup, 1, &leave).await;
        assert_eq!(left.error_code, 0);
        assert_eq!(
            heartbeat(&mut second, &two, joined.generation_id).await,
            REBALANCE_IN_PROGRESS
        );
        let again = join(&mut second, 3, join_request(&two, subscription(&[TOPIC]))).await;
        assert_eq!(again.error_code, 0);
        let (code, everything) = sync(&mut second, &two, again.generation_id).await;
        assert_eq!((code, everything), (0, BTreeSet::from([0, 1, 2, 3])));
        server.stop().await;
    }

    #[tokio::test]
    async fn silent_members_expire_and_a_join_waits_at_most_its_rebalance_timeout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (server, addr) = start(dir.path(), false).await;
        let mut client = server.client().await;
        create_topic(&mut client, TOPIC, 4).await;
        let mut first = Conn::open(addr).await;
        let short = join_request("", subscription(&[TOPIC])).with_session_timeout_ms(5_000);
        let joined = join(&mut first, 3, short).await;
        let one = joined.member_id.as_str().to_string();
        let (_, all) = sync(&mut first, &one, joined.generation_id).await;
        assert_eq!(all.len(), 4);

        // The first member does not rejoin: a second member's join gives up waiting for
        // its share after its rebalance timeout and syncs with what is free (nothing).
        let mut second = Conn::open(addr).await;
        let impatient = join_request("", subscription(&[TOPIC])).with_rebalance_timeout_ms(300);
        let waited = join(&mut second, 3, impatient).await;
        assert_eq!(waited.error_code, 0);
        let two = waited.member_id.as_str().to_string();
        let (code, nothing) = sync(&mut second, &two, waited.generation_id).await;
        assert_eq!((code, nothing), (0, BTreeSet::new()));
        assert_eq!(
            heartbeat(&mut first, &one, joined.generation_id).await,
            REBALANCE_IN_PROGRESS
        );
        // The first member leaves by going silent instead: a third member, with a short
        // session, joins the same way and also goes silent; the second member keeps
        // heartbeating and rejoining until it holds every partition.
        let mut third = Conn::open(addr).await;
        let silent = join_request("", subscription(&[TOPIC]))
            .with_session_timeout_ms(600)
            .with_rebalance_timeout_ms(300);
        let three = join(&mut third, 3, silent).await;
        assert_eq!(three.error_code, 0);
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut generation = waited.generation_id;
        loop {
            match heartbeat(&mut second, &two, generation).await {
                0 => {}
                REBALANCE_IN_PROGRESS => {
                    let again =
                        join(&mut second, 3, join_request(&two, subscription(&[TOPIC]))).await;
                    assert_eq!(again.error_code, 0);
                    generation = again.generation_id;
                    let (code, got) = sync(&mut second, &two, generation).await;
                    assert!(code == 0 || code == REBALANCE_IN_PROGRESS, "sync: {code}");
                    if got.len() == 4 {
                        break;
                    }
                }
                other => panic!("heartbeat: {other}"),
            }
            assert!(
                Instant::now() < deadline,
                "the silent members are never removed"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Both silent members are gone: the third's session ended, and the first
        // member's too, nothing having been heard from it for longer than its 5 s.
        let member = three.member_id.as_str();
        assert_eq!(
            heartbeat(&mut third, member, three.generation_id).await,
            UNKNOWN_MEMBER_ID
        );
        assert_eq!(
            heartbeat(&mut first, &one, joined.generation_id).await,
            UNKNOWN_MEMBER_ID
        );
        server.stop().await;
    }
}
