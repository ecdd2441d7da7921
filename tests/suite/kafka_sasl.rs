//! SASL/PLAIN on the Kafka listener at the protocol level: nothing but ApiVersions and
//! the SASL APIs before authentication, handshakes and authentications out of turn or
//! with a wrong token refused, and once authenticated, each request held to the
//! token's role and topic and group prefixes. Real clients are in
//! `kafka_auth_clients.rs`.

use crate::common;
use crate::kafka_support;

use bytes::Bytes;
use common::{create_topic, fetch_all, produce, record};
use eventlog::kafka::KafkaConfig;
use eventlog::service::ServerConfig;
use eventlog::service::tokens::TokenTable;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use kafka_support::{Conn, name, start_with, text};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ADMIN: &str = "admin-token-0123456789";
const READER: &str = "reader-token-0123456789";
const ORDERS_WRITER: &str = "orders-writer-0123456789";

fn tokens() -> TokenTable {
    TokenTable::parse(&format!(
        "{ADMIN} admin\n{READER} consumer\n{ORDERS_WRITER} producer topic=orders\n{ORDERS_WRITER} consumer topic=orders group=orders-\n"
    ))
    .expect("tokens")
}

async fn start(dir: &std::path::Path) -> (common::TestServer, std::net::SocketAddr) {
    start_with(dir, |config| config.auth = Some(tokens())).await
}

/// Handshake (version 1) and authentication with `token`; the error code.
async fn login(conn: &mut Conn, token: &str) -> i16 {
    let handshake = SaslHandshakeRequest::default().with_mechanism(text("PLAIN"));
    let answer: SaslHandshakeResponse = conn.call(ApiKey::SaslHandshake, 1, &handshake).await;
    assert_eq!(answer.error_code, 0);
    let message = format!("\0any-user\0{token}");
    let authenticate =
        SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(message.into_bytes()));
    let answer: SaslAuthenticateResponse =
        conn.call(ApiKey::SaslAuthenticate, 2, &authenticate).await;
    answer.error_code
}

fn metadata(topics: &[&str]) -> MetadataRequest {
    MetadataRequest::default().with_topics(Some(
        topics
            .iter()
            .map(|t| MetadataRequestTopic::default().with_name(Some(name(t))))
            .collect(),
    ))
}

/// (topic, error code) of a Metadata answer.
fn described(answer: &MetadataResponse) -> Vec<(String, i16)> {
    let mut topics: Vec<(String, i16)> = answer
        .topics
        .iter()
        .map(|t| {
            let name = t.name.as_ref().map(|n| n.as_str().to_string());
            (name.unwrap_or_default(), t.error_code)
        })
        .collect();
    topics.sort();
    topics
}

fn produce_request(topic: &str, value: &str) -> ProduceRequest {
    let records = [Record {
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
        headers: Default::default(),
    }];
    let mut batch = bytes::BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut batch, &records, &options).expect("batch");
    let partition = PartitionProduceData::default()
        .with_index(0)
        .with_records(Some(batch.freeze()));
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(name(topic))
                .with_partition_data(vec![partition]),
        ])
}

/// The error code of each partition of a Produce answer.
fn produce_codes(answer: &ProduceResponse) -> Vec<i16> {
    answer
        .responses
        .iter()
        .flat_map(|t| t.partition_responses.iter().map(|p| p.error_code))
        .collect()
}

fn fetch_request(topic: &str) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(name(topic))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ])
}

fn fetch_codes(answer: &FetchResponse) -> Vec<i16> {
    answer
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_but_sasl_is_served_before_authentication_and_wrong_tokens_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, addr) = start(dir.path()).await;

    // ApiVersions is open and advertises the SASL APIs; Metadata closes the connection.
    let mut conn = Conn::open(addr).await;
    let versions: ApiVersionsResponse = conn
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    let keys: Vec<i16> = versions.api_keys.iter().map(|k| k.api_key).collect();
    assert!(keys.contains(&(ApiKey::SaslHandshake as i16)));
    assert!(keys.contains(&(ApiKey::SaslAuthenticate as i16)));
    conn.expect_closed(ApiKey::Metadata, 12, &metadata(&[]))
        .await;

    // SaslAuthenticate before a handshake; a mechanism other than PLAIN.
    let mut conn = Conn::open(addr).await;
    let early = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from_static(b"\0u\0p"));
    let answer: SaslAuthenticateResponse = conn.call(ApiKey::SaslAuthenticate, 1, &early).await;
    assert_eq!(answer.error_code, 34, "ILLEGAL_SASL_STATE");
    let scram = SaslHandshakeRequest::default().with_mechanism(text("SCRAM-SHA-256"));
    let answer: SaslHandshakeResponse = conn.call(ApiKey::SaslHandshake, 1, &scram).await;
    assert_eq!(answer.error_code, 33, "UNSUPPORTED_SASL_MECHANISM");
    let offered: Vec<&str> = answer.mechanisms.iter().map(|m| m.as_str()).collect();
    assert_eq!(offered, ["PLAIN"]);

    // A wrong token: SASL_AUTHENTICATION_FAILED, then the connection closes.
    let mut conn = Conn::open(addr).await;
    assert_eq!(login(&mut conn, "wrong-token-0123456789").await, 58);
    conn.expect_closed(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;

    // The right token; a second handshake afterwards is out of turn.
    let mut conn = Conn::open(addr).await;
    assert_eq!(login(&mut conn, ADMIN).await, 0);
    let again = SaslHandshakeRequest::default().with_mechanism(text("PLAIN"));
    let answer: SaslHandshakeResponse = conn.call(ApiKey::SaslHandshake, 1, &again).await;
    assert_eq!(answer.error_code, 34, "ILLEGAL_SASL_STATE");
    let answer: MetadataResponse = conn.call(ApiKey::Metadata, 12, &metadata(&[])).await;
    assert_eq!(answer.error_code, 0);

    // Version 0: the PLAIN message as a bare frame, answered with an empty one.
    let mut conn = Conn::open(addr).await;
    let handshake = SaslHandshakeRequest::default().with_mechanism(text("PLAIN"));
    let answer: SaslHandshakeResponse = conn.call(ApiKey::SaslHandshake, 0, &handshake).await;
    assert_eq!(answer.error_code, 0);
    let message = format!("\0user\0{READER}");
    let stream = conn.stream();
    stream
        .write_all(&(message.len() as u32).to_be_bytes())
        .await
        .expect("send");
    stream.write_all(message.as_bytes()).await.expect("send");
    assert_eq!(stream.read_u32().await.expect("empty answer"), 0);
    let answer: MetadataResponse = conn.call(ApiKey::Metadata, 1, &metadata(&[])).await;
    assert_eq!(answer.error_code, 0);
    // ... and a wrong bare token closes the connection.
    let mut conn = Conn::open(addr).await;
    let _: SaslHandshakeResponse = conn.call(ApiKey::SaslHandshake, 0, &handshake).await;
    let stream = conn.stream();
    stream.write_all(&9u32.to_be_bytes()).await.expect("send");
    stream.write_all(b"\0u\0wrong!").await.expect("send");
    let mut byte = [0u8; 1];
    assert!(matches!(stream.read(&mut byte).await, Ok(0) | Err(_)));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_held_to_the_roles_and_prefixes_of_the_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, addr) = start(dir.path()).await;
    let options = eventlog::client::ConnectOptions {
        token: Some(ADMIN.into()),
        ..Default::default()
    };
    let mut client = eventlog::client::Client::connect_with(&server.url(), &options)
        .await
        .expect("client");
    create_topic(&mut client, "orders", 1).await;
    create_topic(&mut client, "audit", 1).await;
    produce(&mut client, "audit", Some(0), vec![record(None, Some("a"))]).await;

    // A consumer token reads but cannot produce, create or grow topics.
    let mut reader = Conn::open(addr).await;
    assert_eq!(login(&mut reader, READER).await, 0);
    let answer: ProduceResponse = reader
        .call(ApiKey::Produce, 9, &produce_request("audit", "x"))
        .await;
    assert_eq!(produce_codes(&answer), [29], "TOPIC_AUTHORIZATION_FAILED");
    let answer: FetchResponse = reader
        .call(ApiKey::Fetch, 12, &fetch_request("audit"))
        .await;
    assert_eq!(fetch_codes(&answer), [0]);
    let grow = CreatePartitionsRequest::default().with_topics(vec![
        CreatePartitionsTopic::default()
            .with_name(name("audit"))
            .with_count(3),
    ]);
    let answer: CreatePartitionsResponse = reader.call(ApiKey::CreatePartitions, 3, &grow).await;
    assert_eq!(answer.results[0].error_code, 29);
    let init = InitProducerIdRequest::default()
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let answer: InitProducerIdResponse = reader.call(ApiKey::InitProducerId, 4, &init).await;
    assert_eq!(answer.error_code, 31, "CLUSTER_AUTHORIZATION_FAILED");
    let answer: MetadataResponse = reader
        .call(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default().with_topics(None),
        )
        .await;
    assert_eq!(
        described(&answer),
        [("audit".into(), 0), ("orders".into(), 0)]
    );

    // A token scoped to "orders" writes and reads there only, and sees only it.
    let mut writer = Conn::open(addr).await;
    assert_eq!(login(&mut writer, ORDERS_WRITER).await, 0);
    let answer: ProduceResponse = writer
        .call(ApiKey::Produce, 9, &produce_request("orders", "mine"))
        .await;
    assert_eq!(produce_codes(&answer), [0]);
    let answer: ProduceResponse = writer
        .call(ApiKey::Produce, 9, &produce_request("audit", "not mine"))
        .await;
    assert_eq!(produce_codes(&answer), [29]);
    let answer: FetchResponse = writer
        .call(ApiKey::Fetch, 12, &fetch_request("audit"))
        .await;
    assert_eq!(fetch_codes(&answer), [29]);
    let answer: MetadataResponse = writer
        .call(ApiKey::Metadata, 12, &metadata(&["orders", "audit"]))
        .await;
    assert_eq!(
        described(&answer),
        [("audit".into(), 29), ("orders".into(), 0)]
    );
    let answer: MetadataResponse = writer
        .call(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default().with_topics(None),
        )
        .await;
    assert_eq!(described(&answer), [("orders".into(), 0)]);
    // Groups: its prefix commits, another group is GROUP_AUTHORIZATION_FAILED.
    let commit = |group: &str| {
        use kafka_protocol::messages::offset_commit_request::*;
        OffsetCommitRequest::default()
            .with_group_id(GroupId(text(group)))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![
                OffsetCommitRequestTopic::default()
                    .with_name(name("orders"))
                    .with_partitions(vec![
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(1),
                    ]),
            ])
    };
    let codes = |answer: &OffsetCommitResponse| -> Vec<i16> {
        answer
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .collect()
    };
    let answer: OffsetCommitResponse = writer
        .call(ApiKey::OffsetCommit, 8, &commit("orders-app"))
        .await;
    assert_eq!(codes(&answer), [0]);
    let answer: OffsetCommitResponse = writer
        .call(ApiKey::OffsetCommit, 8, &commit("billing"))
        .await;
    assert_eq!(codes(&answer), [30], "GROUP_AUTHORIZATION_FAILED");
    let find = FindCoordinatorRequest::default()
        .with_key_type(0)
        .with_coordinator_keys(vec![text("billing")]);
    let answer: FindCoordinatorResponse = writer.call(ApiKey::FindCoordinator, 4, &find).await;
    assert_eq!(answer.coordinators[0].error_code, 30);

    // Only what was allowed reached the log.
    assert_eq!(fetch_all(&mut client, "orders", 0, 0).await.len(), 1);
    assert_eq!(fetch_all(&mut client, "audit", 0, 0).await.len(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_refused_on_a_kafka_listener_beyond_loopback() {
    let dir = tempfile::tempdir().expect("tempdir");
    let grpc = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = kafka_support::free_addr().port();
    let config = ServerConfig {
        broker: eventlog::broker::BrokerConfig {
            data_dir: dir.path().to_path_buf(),
            ..Default::default()
        },
        auth: Some(tokens()),
        kafka: Some(KafkaConfig::new(([0, 0, 0, 0], port).into())),
        ..ServerConfig::default()
    };
    let err = eventlog::service::serve(config, grpc, std::future::pending())
        .await
        .expect_err("refused");
    let message = err.to_string();
    assert!(
        message.contains("SASL/PLAIN") && message.contains("loopback"),
        "{message}"
    );
    // Nothing was opened: the data directory was never locked or filled.
    assert!(!dir.path().join("topics").exists());
}
