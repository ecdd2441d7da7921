//! Topic administration: create with a config, list, describe, reopen after a restart,
//! delete (data gone, name reusable), and cleanup of an interrupted deletion on start.

use crate::common;

use std::time::Duration;

use common::{
    TestServer, commit, committed_offsets, create_topic, fetch_all, produce, record, value_text,
};
use eventlog::proto::v1 as pb;

/// Bound on waiting for a second server's refusal, which it owes at once (its broker
/// fails on the lock before reading anything): far above what a busy machine needs.
const REFUSED_WITHIN: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_created_described_reopened_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;

    let config = pb::TopicConfig {
        retention_ms: Some(3_600_000),
        retention_bytes: Some(1 << 30),
        segment_bytes: Some(2 << 20),
        cleanup_policy: pb::CleanupPolicy::Compact.into(),
        ..Default::default()
    };
    let created = client
        .admin
        .create_topic(pb::CreateTopicRequest {
            name: "profiles".into(),
            partitions: 3,
            replication_factor: 0,
            config: Some(config),
        })
        .await
        .unwrap()
        .into_inner()
        .topic
        .unwrap();
    assert_eq!((created.name.as_str(), created.partitions), ("profiles", 3));
    assert_eq!(created.config, Some(config));
    create_topic(&mut client, "audit", 1).await;
    produce(
        &mut client,
        "profiles",
        Some(2),
        vec![record(Some("u1"), Some("v1")), record(Some("u1"), None)],
    )
    .await;
    server.stop().await;

    // Everything survives a restart.
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    let listed = client
        .admin
        .list_topics(pb::ListTopicsRequest {})
        .await
        .unwrap()
        .into_inner()
        .topics;
    let names: Vec<&str> = listed.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["audit", "profiles"]);
    let described = client
        .admin
        .describe_topic(pb::DescribeTopicRequest {
            name: "profiles".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(described.topic.unwrap().config, Some(config));
    let partitions: Vec<(u32, u64, u64)> = described
        .partitions
        .iter()
        .map(|p| (p.partition, p.log_start_offset, p.high_watermark))
        .collect();
    assert_eq!(partitions, [(0, 0, 0), (1, 0, 0), (2, 0, 2)]);
    assert!(described.partitions[2].size_bytes > 0 && described.partitions[2].segment_count >= 1);

    // Delete removes the data; the name can be reused, starting empty.
    client
        .admin
        .delete_topic(pb::DeleteTopicRequest {
            name: "profiles".into(),
        })
        .await
        .unwrap();
    assert!(!dir.path().join("topics/profiles").exists());
    create_topic(&mut client, "profiles", 1).await;
    let described = client
        .admin
        .describe_topic(pb::DescribeTopicRequest {
            name: "profiles".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(described.partitions.len(), 1);
    assert_eq!(described.partitions[0].high_watermark, 0);
    server.stop().await;

    // A deletion interrupted after its commit point (the rename) is finished on start.
    std::fs::rename(
        dir.path().join("topics/audit"),
        dir.path().join("topics/audit~deleted-1"),
    )
    .unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    let listed = client
        .admin
        .list_topics(pb::ListTopicsRequest {})
        .await
        .unwrap()
        .into_inner()
        .topics;
    assert_eq!(
        listed.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["profiles"]
    );
    assert!(!dir.path().join("topics/audit~deleted-1").exists());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_cannot_open_a_locked_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    // The first server's port is bound before its broker opens (and locks) the data
    // directory, so a connection alone does not mean the lock is taken: a second
    // server started now could take it first and serve. A call answered does.
    topic_names(&mut client).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = eventlog::service::ServerConfig {
        broker: eventlog::broker::BrokerConfig {
            data_dir: dir.path().to_path_buf(),
            ..Default::default()
        },
        ..Default::default()
    };
    // Without a shutdown signal a second server that did open would serve forever: the
    // bound turns that into a failure rather than a hang.
    let second = eventlog::service::serve(config, listener, std::future::pending());
    let second = tokio::time::timeout(REFUSED_WITHIN, second)
        .await
        .expect("the second server refuses the locked data directory rather than serving");
    let err = second.expect_err("the data directory is locked");
    assert!(err.to_string().contains("locked"), "{err}");
    server.stop().await;
}

/// The names of every topic, as ListTopics reports them.
async fn topic_names(client: &mut eventlog::client::Client) -> Vec<String> {
    let listed = client.admin.list_topics(pb::ListTopicsRequest {}).await;
    let topics = listed.expect("list topics").into_inner().topics;
    topics.into_iter().map(|t| t.name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_with_the_longest_name_is_created_used_deleted_and_recreated() {
    let dir = tempfile::tempdir().unwrap();
    let long = "t".repeat(249);
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, &long, 2).await;
    produce(
        &mut client,
        &long,
        Some(1),
        vec![record(None, Some("kept"))],
    )
    .await;
    commit(&mut client, "g", &long, &[(1, 1)]).await.unwrap();
    server.stop().await;

    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    assert_eq!(topic_names(&mut client).await, std::slice::from_ref(&long));
    let records = fetch_all(&mut client, &long, 1, 0).await;
    assert_eq!(records.iter().map(value_text).collect::<Vec<_>>(), ["kept"]);
    assert_eq!(
        committed_offsets(&mut client, "g", &long).await,
        [None, Some(1)]
    );
    let request = pb::DeleteTopicRequest { name: long.clone() };
    client.admin.delete_topic(request).await.unwrap();
    assert!(topic_names(&mut client).await.is_empty());
    server.stop().await;

    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    assert!(topic_names(&mut client).await.is_empty());
    create_topic(&mut client, &long, 2).await;
    assert_eq!(
        committed_offsets(&mut client, "g", &long).await,
        [None, None]
    );
    server.stop().await;
}
