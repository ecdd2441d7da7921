//! Kafka clients in a three-node cluster of the real binary: every node's Kafka
//! listener names all three nodes in Metadata, with each partition's Raft leader, and
//! the group coordinator (the metadata group's leader) in FindCoordinator, also after
//! that leader is killed; group APIs sent to another node answer NOT_COORDINATOR. A
//! real client (librdkafka) given only a node that does not coordinate produces,
//! consumes and commits, and the commits read back through every node.

use crate::cluster_support;
use crate::kafka_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use cluster_support::TestCluster;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, ConsumerProtocolSubscription, FindCoordinatorRequest, FindCoordinatorResponse, GroupId,
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, MetadataRequest,
    MetadataResponse, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_support::clients::{python_script, run_json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOPIC: &str = "orders";
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const NOT_COORDINATOR: i16 = 16;
const KAFKA: &[&str] = &["--kafka-listen", "127.0.0.1:0"];

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

/// The coordinator node `port`'s listener names for the test's group, once it names
/// one that `accept` accepts (nodes announce their Kafka addresses as they start, and
/// a new metadata leader is found after an election).
async fn coordinator_via(port: u16, accept: impl Fn(i32) -> bool) -> (i32, i32) {
    let find = FindCoordinatorRequest::default()
        .with_key_type(0)
        .with_coordinator_keys(vec![text("cluster-consumers")]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found: FindCoordinatorResponse = call(port, ApiKey::FindCoordinator, 4, &find).await;
        let answer = &found.coordinators[0];
        let named = (i32::from(answer.node_id), answer.port);
        if answer.error_code == 0 && accept(named.0) {
            return named;
        }
        assert!(
            answer.error_code == 0 || answer.error_code == COORDINATOR_NOT_AVAILABLE,
            "FindCoordinator through port {port}: error {}",
            answer.error_code
        );
        assert!(
            Instant::now() < deadline,
            "port {port} names coordinator {named:?} (error {})",
            answer.error_code
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The brokers (id → port) and the leader of each partition of the topic that the
/// Metadata answer of node `port` names.
async fn metadata_via(port: u16) -> (BTreeMap<i32, i32>, Vec<i32>) {
    let request = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(TopicName(text(TOPIC)))),
    ]));
    let answer: MetadataResponse = call(port, ApiKey::Metadata, 9, &request).await;
    let brokers = answer
        .brokers
        .iter()
        .map(|b| (i32::from(b.node_id), b.port))
        .collect();
    let topic = &answer.topics[0];
    assert_eq!(topic.error_code, 0, "metadata of {TOPIC}");
    let leaders = topic
        .partitions
        .iter()
        .map(|p| i32::from(p.leader_id))
        .collect();
    (brokers, leaders)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_names_the_brokers_the_leaders_and_the_coordinator() {
    let mut cluster = TestCluster::start_with(3, KAFKA);
    cluster.create_topic(1, TOPIC, 2, 3).await;
    let ports: BTreeMap<u64, u16> = (1..=3).map(|id| (id, kafka_port(&cluster, id))).collect();
    let all: BTreeMap<i32, i32> = ports
        .iter()
        .map(|(id, p)| (*id as i32, i32::from(*p)))
        .collect();
    let leader = cluster
        .describe(1)
        .await
        .metadata_leader
        .expect("a metadata leader once a topic was created");
    let partition_leaders = vec![
        cluster.leader_of(TOPIC, 0).await as i32,
        cluster.leader_of(TOPIC, 1).await as i32,
    ];
    for (&id, &port) in &ports {
        let named = coordinator_via(port, |_| true).await;
        assert_eq!(
            named,
            (leader as i32, i32::from(ports[&leader])),
            "through node {id}"
        );
        let (brokers, leaders) = metadata_via(port).await;
        assert_eq!(brokers, all, "brokers through node {id}");
        assert_eq!(
            leaders, partition_leaders,
            "partition leaders through node {id}"
        );
        let joined: JoinGroupResponse = call(port, ApiKey::JoinGroup, 3, &join_request()).await;
        if id == leader {
            assert_eq!(joined.error_code, 0, "node {id} coordinates");
            let beat = HeartbeatRequest::default()
                .with_group_id(GroupId(text("cluster-consumers")))
                .with_generation_id(joined.generation_id)
                .with_member_id(joined.member_id.clone());
            let answer: HeartbeatResponse = call(port, ApiKey::Heartbeat, 4, &beat).await;
            assert_eq!(answer.error_code, 0);
        } else {
            assert_eq!(
                joined.error_code, NOT_COORDINATOR,
                "node {id} does not coordinate"
            );
        }
    }

    // `eventlog cluster status` shows each node's Kafka address.
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_eventlog"))
        .args(["cluster", "status", "--format", "json", "--server"])
        .arg(cluster.nodes[0].url())
        .output()
        .expect("run eventlog cluster status");
    assert!(status.status.success(), "{status:?}");
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    for node in status["nodes"].as_array().expect("nodes") {
        let id = node["id"].as_u64().expect("id");
        let expected = format!("127.0.0.1:{}", ports[&id]);
        assert_eq!(node["kafka_address"], expected.as_str(), "{status}");
    }

    // The coordinator dies: the survivors name the new metadata leader.
    cluster.kill(leader);
    for (&id, &port) in ports.iter().filter(|(id, _)| **id != leader) {
        let named = coordinator_via(port, |node| node != leader as i32).await;
        let expected = i32::from(ports[&(named.0 as u64)]);
        assert_eq!(
            named.1, expected,
            "the port of node {} through node {id}",
            named.0
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafka_client_given_one_node_that_does_not_coordinate_produces_consumes_and_commits() {
    let cluster = TestCluster::start_with(3, KAFKA);
    cluster.create_topic(1, TOPIC, 2, 3).await;
    let leader = cluster
        .describe(1)
        .await
        .metadata_leader
        .expect("a metadata leader once a topic was created");
    let via = (1..=3).find(|id| *id != leader).expect("another node");
    let bootstrap = format!("127.0.0.1:{}", kafka_port(&cluster, via));
    let mut command = python_script("clients.py");
    command.args(["confluent-roundtrip", &bootstrap, TOPIC, "kafka-cluster"]);
    let out = run_json(command).await;
    assert_eq!(out["consumed"], 200, "{out}");
    for id in 1..=3 {
        let committed = cluster.committed(id, "kafka-cluster", TOPIC, false).await;
        let offsets: BTreeMap<String, u64> = committed
            .iter()
            .filter_map(|p| Some((p.partition.to_string(), p.next_offset?)))
            .collect();
        let reported: BTreeMap<String, u64> =
            serde_json::from_value(out["committed"].clone()).expect("committed offsets");
        assert_eq!(offsets, reported, "the commits as node {id} reads them");
    }
}
