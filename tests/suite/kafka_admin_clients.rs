//! Topic administration through real clients' admin APIs: confluent-kafka's
//! `AdminClient` and kafka-python's `KafkaAdminClient` grow a topic
//! (CreatePartitions), read its configuration under Kafka's names (DescribeConfigs)
//! and change it (IncrementalAlterConfigs), and are refused what cannot be done.
//! Protocol-level checks are in `kafka_admin.rs`.

use crate::common;
use crate::kafka_support;

use common::create_topic;
use eventlog::proto::v1 as pb;
use kafka_support::clients::{python_script, run_json};
use kafka_support::start_with;
use serde_json::json;

async fn topic(client: &mut eventlog::client::Client, name: &str) -> pb::TopicSummary {
    client
        .admin
        .describe_topic(pb::DescribeTopicRequest { name: name.into() })
        .await
        .expect("describe")
        .into_inner()
        .topic
        .expect("topic")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_kafka_admin_client_grows_topics_and_alters_configs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, addr) = start_with(dir.path(), |_| {}).await;
    let mut client = server.client().await;
    create_topic(&mut client, "managed", 1).await;

    let mut command = python_script("admin_auth.py");
    command.args(["admin_confluent", &addr.to_string(), "managed"]);
    let result = run_json(command).await;
    assert_eq!(result["validate_only"], json!(null), "{result}");
    assert_eq!(result["partitions_after_validate"], json!(1), "{result}");
    assert_eq!(result["grow"], json!(null), "{result}");
    assert_eq!(result["shrink"], json!("INVALID_PARTITIONS"), "{result}");
    assert_eq!(
        result["missing"],
        json!("UNKNOWN_TOPIC_OR_PART"),
        "{result}"
    );
    assert_eq!(result["partitions"], json!(3), "{result}");
    assert_eq!(result["before"]["retention.ms"], json!("-1"), "{result}");
    assert_eq!(
        result["before"]["cleanup.policy"],
        json!("delete"),
        "{result}"
    );
    assert_eq!(result["alter"], json!(null), "{result}");
    assert_eq!(result["unknown"], json!("INVALID_CONFIG"), "{result}");
    assert_eq!(
        result["after"]["retention.ms"],
        json!("3600000"),
        "{result}"
    );
    assert_eq!(
        result["after"]["cleanup.policy"],
        json!("compact"),
        "{result}"
    );
    assert_eq!(result["broker"]["broker.id"], json!("0"), "{result}");

    let summary = topic(&mut client, "managed").await;
    assert_eq!(summary.partitions, 3);
    let config = summary.config.expect("config");
    assert_eq!(config.retention_ms, Some(3_600_000));
    assert_eq!(config.cleanup_policy, pb::CleanupPolicy::Compact as i32);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_admin_client_grows_topics_and_alters_configs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, addr) = start_with(dir.path(), |_| {}).await;
    let mut client = server.client().await;
    create_topic(&mut client, "managed-py", 2).await;

    let mut command = python_script("admin_auth.py");
    command.args(["admin_kafka_python", &addr.to_string(), "managed-py"]);
    let result = run_json(command).await;
    assert!(result["shrink"].is_string(), "{result}");
    assert_eq!(result["before"]["retention.ms"], json!("-1"), "{result}");
    assert_eq!(
        result["after"]["retention.ms"],
        json!("7200000"),
        "{result}"
    );

    let summary = topic(&mut client, "managed-py").await;
    assert_eq!(summary.partitions, 4);
    assert_eq!(
        summary.config.expect("config").retention_ms,
        Some(7_200_000)
    );
    server.stop().await;
}
