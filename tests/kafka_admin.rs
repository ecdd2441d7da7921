//! Topic administration over the Kafka listener at the protocol level, with requests
//! built by the `kafka-protocol` crate: CreatePartitions (validate-only, refusals,
//! records kept where they were). Real clients' admin APIs are in `kafka_clients.rs`.

mod common;
mod kafka_support;

use common::{create_topic, fetch_all, produce, record};
use eventlog::proto::v1 as pb;
use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafka_protocol::messages::{ApiKey, CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_support::{Conn, name, start_with};

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
