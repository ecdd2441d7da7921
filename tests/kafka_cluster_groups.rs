//! Kafka consumer groups in a three-node cluster of the real binary: only the group
//! coordinator (the metadata group's leader) serves them; FindCoordinator on another
//! node answers COORDINATOR_NOT_AVAILABLE and the group APIs NOT_COORDINATOR, since
//! the Kafka listener does not know the other nodes' Kafka addresses.

mod cluster_support;

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use cluster_support::TestCluster;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::{
    ApiKey, ConsumerProtocolSubscription, FindCoordinatorRequest, FindCoordinatorResponse, GroupId,
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, RequestHeader,
    ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOPIC: &str = "orders";
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const NOT_COORDINATOR: i16 = 16;

fn text(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_string())
}

/// The Kafka port node `id` bound (`--kafka-listen 127.0.0.1:0`), read from its log.
fn kafka_port(cluster: &TestCluster, id: u64) -> u16 {
    let log = cluster.nodes[(id - 1) as usize].dir.with_extension("log");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let port = text
            .lines()
            .filter(|l| l.contains("serving kafka protocol"))
            .find_map(|l| {
                let addr = l.split("addr=").nth(1)?.split_whitespace().next()?;
                addr.rsplit(':').next()?.parse().ok()
            });
        if let Some(port) = port {
            return port;
        }
        assert!(
            Instant::now() < deadline,
            "node {id} never served kafka: {text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends one request on a new connection and decodes the answer.
async fn call<Q: Encodable, R: Decodable>(port: u16, key: ApiKey, version: i16, request: &Q) -> R {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let mut body = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(1)
        .with_client_id(Some(text("cluster-test")))
        .encode(&mut body, key.request_header_version(version))
        .expect("header");
    request.encode(&mut body, version).expect("request");
    stream
        .write_all(&(body.len() as u32).to_be_bytes())
        .await
        .expect("send");
    stream.write_all(&body).await.expect("send");
    let length = stream.read_u32().await.expect("answer length");
    let mut answer = vec![0; length as usize];
    stream.read_exact(&mut answer).await.expect("answer");
    let mut answer = Bytes::from(answer);
    ResponseHeader::decode(&mut answer, key.response_header_version(version)).expect("header");
    R::decode(&mut answer, version).expect("answer body")
}

fn join_request() -> JoinGroupRequest {
    let mut metadata = BytesMut::new();
    metadata.put_i16(0);
    ConsumerProtocolSubscription::default()
        .with_topics(vec![text(TOPIC)])
        .encode(&mut metadata, 0)
        .expect("subscription");
    JoinGroupRequest::default()
        .with_group_id(GroupId(text("cluster-consumers")))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(text("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(text("range"))
                .with_metadata(metadata.freeze()),
        ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_coordinator_serves_kafka_groups() {
    let cluster = TestCluster::start_with(3, &["--kafka-listen", "127.0.0.1:0"]);
    cluster.create_topic(1, TOPIC, 2, 3).await;
    let leader = cluster
        .describe(1)
        .await
        .metadata_leader
        .expect("a metadata leader once a topic was created");
    let find = FindCoordinatorRequest::default()
        .with_key_type(0)
        .with_coordinator_keys(vec![text("cluster-consumers")]);
    for id in 1..=3 {
        let port = kafka_port(&cluster, id);
        let found: FindCoordinatorResponse = call(port, ApiKey::FindCoordinator, 4, &find).await;
        let joined: JoinGroupResponse = call(port, ApiKey::JoinGroup, 3, &join_request()).await;
        if id == leader {
            assert_eq!(found.coordinators[0].error_code, 0);
            assert_eq!(i32::from(found.coordinators[0].node_id), 0);
            assert_eq!(found.coordinators[0].port, i32::from(port));
            assert_eq!(joined.error_code, 0, "node {id} coordinates");
            let beat = HeartbeatRequest::default()
                .with_group_id(GroupId(text("cluster-consumers")))
                .with_generation_id(joined.generation_id)
                .with_member_id(joined.member_id.clone());
            let answer: HeartbeatResponse = call(port, ApiKey::Heartbeat, 4, &beat).await;
            assert_eq!(answer.error_code, 0);
        } else {
            assert_eq!(found.coordinators[0].error_code, COORDINATOR_NOT_AVAILABLE);
            assert_eq!(
                joined.error_code, NOT_COORDINATOR,
                "node {id} does not coordinate"
            );
        }
    }
}
