//! Topic administration over the Kafka listener at the protocol level, with requests
//! built by the `kafka-protocol` crate: CreatePartitions (validate-only, refusals,
//! records kept where they were), DescribeConfigs and IncrementalAlterConfigs. Real clients' admin APIs are in `kafka_clients.rs`.

use crate::common;
use crate::kafka_support;

use common::{create_topic, fetch_all, produce, record};
use eventlog::proto::v1 as pb;
use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    ApiKey, CreatePartitionsRequest, CreatePartitionsResponse, DescribeConfigsRequest,
    DescribeConfigsResponse, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use kafka_support::{Conn, name, start_with, text};

fn grow(topic: &str, count: i32) -> CreatePartitionsTopic {
    CreatePartitionsTopic::default()
        .with_name(name(topic))
        .with_count(count)
}

async fn partitions_of(client: &mut eventlog::client::Client, topic: &str) -> u32 {
    client
        .admin
        .describe_topic(pb::DescribeTopicRequest { name: topic.into() })
        .await
        .expect("describe")
        .into_inner()
        .topic
        .expect("topic")
        .partitions
}

/// (topic, error code) of each result, in request order.
fn codes(answer: &CreatePartitionsResponse) -> Vec<(String, i16)> {
    answer
        .results
        .iter()
        .map(|r| (r.name.as_str().to_string(), r.error_code))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_partitions_grows_topics_and_refuses_what_it_cannot_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, addr) = start_with(dir.path(), |_| {}).await;
    let mut client = server.client().await;
    create_topic(&mut client, "orders", 2).await;
    create_topic(&mut client, "small", 3).await;
    produce(
        &mut client,
        "orders",
        Some(1),
        vec![record(Some("k"), Some("kept"))],
    )
    .await;
    let mut conn = Conn::open(addr).await;

    // validate_only answers as the change would, and changes nothing.
    let check = CreatePartitionsRequest::default()
        .with_topics(vec![grow("orders", 4)])
        .with_validate_only(true);
    let answer: CreatePartitionsResponse = conn.call(ApiKey::CreatePartitions, 3, &check).await;
    assert_eq!(codes(&answer), [("orders".into(), 0)]);
    assert_eq!(partitions_of(&mut client, "orders").await, 2);

    let assigned = grow("small", 4).with_assignments(Some(vec![
        CreatePartitionsAssignment::default().with_broker_ids(vec![0.into()]),
    ]));
    let request = CreatePartitionsRequest::default().with_topics(vec![
        grow("orders", 4),
        grow("small", 3),
        grow("small", 2),
        assigned,
        grow("missing", 2),
        grow("bad/name", 2),
        grow("orders-too", 0),
    ]);
    let answer: CreatePartitionsResponse = conn.call(ApiKey::CreatePartitions, 0, &request).await;
    assert_eq!(
        codes(&answer),
        [
            ("orders".into(), 0),
            // "small" is named three times: each mention is INVALID_REQUEST.
            ("small".into(), 42),
            ("small".into(), 42),
            ("small".into(), 42),
            ("missing".into(), 3),
            ("bad/name".into(), 17),
            ("orders-too".into(), 37),
        ]
    );
    assert_eq!(partitions_of(&mut client, "orders").await, 4);
    assert_eq!(partitions_of(&mut client, "small").await, 3);

    let refused = CreatePartitionsRequest::default().with_topics(vec![
        grow("small", 3),
        grow("orders", 2000),
        grow("ghost", 9),
    ]);
    let answer: CreatePartitionsResponse = conn.call(ApiKey::CreatePartitions, 2, &refused).await;
    assert_eq!(
        codes(&answer),
        [
            ("small".into(), 37),
            ("orders".into(), 37),
            ("ghost".into(), 3)
        ]
    );
    let message = answer.results[0].error_message.as_deref().unwrap_or("");
    assert!(message.contains("has 3"), "{message}");
    assert!(
        answer.results[2].error_message.is_some(),
        "refusals carry a message"
    );
    let assigned =
        CreatePartitionsRequest::default().with_topics(vec![grow("small", 4).with_assignments(
            Some(vec![
                CreatePartitionsAssignment::default().with_broker_ids(vec![0.into()]),
            ]),
        )]);
    let answer: CreatePartitionsResponse = conn.call(ApiKey::CreatePartitions, 3, &assigned).await;
    assert_eq!(codes(&answer), [("small".into(), 39)]);
    assert_eq!(partitions_of(&mut client, "small").await, 3);

    // The record stayed in its partition; the new partitions are empty and writable.
    let kept = fetch_all(&mut client, "orders", 1, 0).await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].value.as_deref(), Some(&b"kept"[..]));
    assert!(fetch_all(&mut client, "orders", 3, 0).await.is_empty());
    produce(
        &mut client,
        "orders",
        Some(3),
        vec![record(None, Some("new"))],
    )
    .await;
    assert_eq!(fetch_all(&mut client, "orders", 3, 0).await.len(), 1);
    server.stop().await;
}

fn describe_resource(kind: i8, name: &str, keys: Option<&[&str]>) -> DescribeConfigsResource {
    DescribeConfigsResource::default()
        .with_resource_type(kind)
        .with_resource_name(text(name))
        .with_configuration_keys(keys.map(|ks| ks.iter().map(|k| text(k)).collect()))
}

/// (value, read only, source, type) of config `name` in a DescribeConfigs result.
fn config_in(result: &DescribeConfigsResult, name: &str) -> (String, bool, i8, i8) {
    let config = result
        .configs
        .iter()
        .find(|c| c.name.as_str() == name)
        .unwrap_or_else(|| panic!("no {name} in {result:?}"));
    let value = config.value.as_deref().unwrap_or("").to_string();
    (
        value,
        config.read_only,
        config.config_source,
        config.config_type,
    )
}

fn alter(name: &str, operation: i8, value: Option<&str>) -> AlterableConfig {
    AlterableConfig::default()
        .with_name(text(name))
        .with_config_operation(operation)
        .with_value(value.map(text))
}

fn resource(kind: i8, name: &str, configs: Vec<AlterableConfig>) -> AlterConfigsResource {
    AlterConfigsResource::default()
        .with_resource_type(kind)
        .with_resource_name(text(name))
        .with_configs(configs)
}

async fn topic_config(client: &mut eventlog::client::Client, topic: &str) -> pb::TopicConfig {
    client
        .admin
        .describe_topic(pb::DescribeTopicRequest { name: topic.into() })
        .await
        .expect("describe")
        .into_inner()
        .topic
        .expect("topic")
        .config
        .expect("config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_configs_are_described_and_altered_under_kafka_names() {
    const SET: i8 = 0;
    const DELETE: i8 = 1;
    const APPEND: i8 = 2;
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, addr) = start_with(dir.path(), |_| {}).await;
    let mut client = server.client().await;
    client
        .admin
        .create_topic(pb::CreateTopicRequest {
            name: "configs".into(),
            partitions: 1,
            replication_factor: 0,
            config: Some(pb::TopicConfig {
                retention_ms: Some(60_000),
                segment_bytes: Some(1 << 20),
                ..Default::default()
            }),
        })
        .await
        .expect("create");
    let mut conn = Conn::open(addr).await;

    let request = DescribeConfigsRequest::default().with_resources(vec![
        describe_resource(2, "configs", None),
        describe_resource(4, "0", None),
        describe_resource(2, "missing", None),
        describe_resource(8, "logger", None),
        describe_resource(2, "configs", Some(&["cleanup.policy"])),
    ]);
    let answer: DescribeConfigsResponse = conn.call(ApiKey::DescribeConfigs, 4, &request).await;
    let codes: Vec<i16> = answer.results.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, [0, 0, 3, 42, 0]);
    let topic = &answer.results[0];
    // Source 1: set on the topic; 5: the default. Type 5: LONG, 7: LIST.
    assert_eq!(
        config_in(topic, "retention.ms"),
        ("60000".into(), false, 1, 5)
    );
    assert_eq!(
        config_in(topic, "retention.bytes"),
        ("-1".into(), false, 5, 5)
    );
    assert_eq!(
        config_in(topic, "cleanup.policy"),
        ("delete".into(), false, 5, 7)
    );
    assert!(config_in(topic, "max.message.bytes").1, "read-only");
    let broker = &answer.results[1];
    assert_eq!(config_in(broker, "auto.create.topics.enable").0, "false");
    assert!(broker.configs.iter().all(|c| c.read_only));
    let only: Vec<&str> = answer.results[4]
        .configs
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(only, ["cleanup.policy"]);
    // Version 1 has no config types: the same answer encodes without them.
    let old = DescribeConfigsRequest::default()
        .with_resources(vec![describe_resource(2, "configs", None)]);
    let answer: DescribeConfigsResponse = conn.call(ApiKey::DescribeConfigs, 1, &old).await;
    assert_eq!(config_in(&answer.results[0], "retention.ms").0, "60000");

    // validate_only checks and changes nothing.
    let change = || {
        resource(
            2,
            "configs",
            vec![
                alter("retention.ms", SET, Some("120000")),
                alter("cleanup.policy", SET, Some("compact")),
                alter("segment.ms", DELETE, None),
            ],
        )
    };
    let check = IncrementalAlterConfigsRequest::default()
        .with_resources(vec![change()])
        .with_validate_only(true);
    let answer: IncrementalAlterConfigsResponse =
        conn.call(ApiKey::IncrementalAlterConfigs, 1, &check).await;
    assert_eq!(answer.responses[0].error_code, 0);
    assert_eq!(
        topic_config(&mut client, "configs").await.retention_ms,
        Some(60_000)
    );

    let apply = IncrementalAlterConfigsRequest::default().with_resources(vec![change()]);
    let answer: IncrementalAlterConfigsResponse =
        conn.call(ApiKey::IncrementalAlterConfigs, 0, &apply).await;
    assert_eq!(answer.responses[0].error_code, 0);
    let config = topic_config(&mut client, "configs").await;
    assert_eq!(config.retention_ms, Some(120_000));
    assert_eq!(config.cleanup_policy, pb::CleanupPolicy::Compact as i32);

    // Refusals: each resource whole, nothing changed.
    let bad = IncrementalAlterConfigsRequest::default().with_resources(vec![
        resource(
            2,
            "configs",
            vec![alter("unclean.leader.election.enable", SET, Some("true"))],
        ),
        resource(
            2,
            "configs-too",
            vec![alter("max.message.bytes", SET, Some("1"))],
        ),
        resource(
            2,
            "configs-3",
            vec![alter("cleanup.policy", APPEND, Some("delete"))],
        ),
        resource(2, "missing", vec![alter("retention.ms", SET, Some("1000"))]),
        resource(4, "0", vec![alter("log.retention.ms", SET, Some("1000"))]),
    ]);
    let answer: IncrementalAlterConfigsResponse =
        conn.call(ApiKey::IncrementalAlterConfigs, 1, &bad).await;
    let codes: Vec<i16> = answer.responses.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, [40, 40, 40, 3, 42]);
    let mixed = IncrementalAlterConfigsRequest::default().with_resources(vec![resource(
        2,
        "configs",
        vec![
            alter("retention.ms", SET, Some("5000")),
            alter("retention.bytes", SET, Some("0")),
        ],
    )]);
    let answer: IncrementalAlterConfigsResponse =
        conn.call(ApiKey::IncrementalAlterConfigs, 1, &mixed).await;
    assert_eq!(
        answer.responses[0].error_code, 40,
        "retention.bytes 0 is invalid"
    );
    let twice = IncrementalAlterConfigsRequest::default().with_resources(vec![
        resource(2, "configs", vec![alter("retention.ms", SET, Some("5000"))]),
        resource(2, "configs", vec![alter("retention.ms", SET, Some("6000"))]),
    ]);
    let answer: IncrementalAlterConfigsResponse =
        conn.call(ApiKey::IncrementalAlterConfigs, 1, &twice).await;
    let codes: Vec<i16> = answer.responses.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, [42, 42]);
    assert_eq!(
        topic_config(&mut client, "configs").await.retention_ms,
        Some(120_000)
    );
    server.stop().await;
}
