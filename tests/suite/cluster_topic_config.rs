//! Changing a replicated topic's config in a three-node cluster of the real binary:
//! the change goes through the metadata group, so every node applies it (a node that
//! was down meanwhile when it returns, a restarted node from its metadata log), two
//! changes of different fields made at once through different nodes both hold, and a
//! refused change changes nothing anywhere.

use crate::cluster_support;

use std::time::{Duration, Instant};

use cluster_support::TestCluster;
use eventlog::client::Client;
use eventlog::proto::v1 as pb;
use tonic::Code;

const TOPIC: &str = "settings";

/// Sets the fields of `set` on the topic through `client`, retrying while the cluster
/// is between leaders.
async fn alter(
    client: &mut Client,
    set: pb::TopicConfig,
) -> Result<pb::TopicConfig, tonic::Status> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let request = pb::UpdateTopicConfigRequest {
            name: TOPIC.into(),
            set: Some(set),
            reset: Vec::new(),
        };
        match client.admin.update_topic_config(request).await {
            Err(status) if status.code() == Code::Unavailable && Instant::now() < deadline => {
                eprintln!("update topic config: {status}; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => {
                return other.map(|reply| {
                    reply
                        .into_inner()
                        .topic
                        .expect("topic")
                        .config
                        .expect("config")
                });
            }
        }
    }
}

/// Sets the fields of `set` on the topic through `client`, once.
async fn alter_once(
    client: &mut Client,
    set: pb::TopicConfig,
) -> Result<pb::TopicConfig, tonic::Status> {
    let request = pb::UpdateTopicConfigRequest {
        name: TOPIC.into(),
        set: Some(set),
        reset: Vec::new(),
    };
    let reply = client.admin.update_topic_config(request).await?;
    Ok(reply
        .into_inner()
        .topic
        .expect("topic")
        .config
        .expect("config"))
}

/// The topic's config as node `id` reports it.
async fn config_on(cluster: &TestCluster, id: u64) -> pb::TopicConfig {
    cluster
        .describe_topic(id, TOPIC)
        .await
        .config
        .expect("config")
}

/// Waits until node `id` reports a config that `check` accepts; returns it.
async fn expect_config(
    cluster: &TestCluster,
    id: u64,
    what: &str,
    check: impl Fn(&pb::TopicConfig) -> bool,
) -> pb::TopicConfig {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let config = config_on(cluster, id).await;
        if check(&config) {
            return config;
        }
        assert!(
            Instant::now() < deadline,
            "node {id} reports {config:?}, expected {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const HOUR: u64 = 3_600_000;
const SIZE: u64 = 64 << 20;
const AGE: u64 = 600_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_config_change_through_one_node_reaches_every_node_and_survives_restarts() {
    let mut cluster = TestCluster::start(3);
    cluster.create_topic(1, TOPIC, 2, 3).await;
    let before = config_on(&cluster, 1).await;
    assert_eq!(before.retention_ms, None, "{before:?}");

    // A refused change, through a follower of the metadata group, changes nothing.
    let mut two = cluster.client_of(2).await;
    let tiny = pb::TopicConfig {
        segment_bytes: Some(1),
        ..Default::default()
    };
    let refused = alter(&mut two, tiny).await.expect_err("segment of 1 byte");
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused}");
    for id in 1..=3 {
        assert_eq!(config_on(&cluster, id).await, before, "node {id}");
    }

    // Node 3 is down while the retention changes through node 2.
    cluster.kill(3);
    let hour = pb::TopicConfig {
        retention_ms: Some(HOUR),
        ..Default::default()
    };
    let changed = alter(&mut two, hour).await.expect("set retention");
    assert_eq!(changed.retention_ms, Some(HOUR));
    for id in 1..=2 {
        expect_config(&cluster, id, "the new retention", |c| {
            c.retention_ms == Some(HOUR)
        })
        .await;
    }

    // Two changes of different fields at once, through different nodes: both hold.
    // Sent once each: the cluster has a leader again, and a change that another one
    // overwrote must show as a failure here, not be retried into success.
    let mut one = cluster.client_of(1).await;
    let size = pb::TopicConfig {
        retention_bytes: Some(SIZE),
        ..Default::default()
    };
    let age = pb::TopicConfig {
        segment_ms: Some(AGE),
        ..Default::default()
    };
    let (by_size, by_age) = tokio::join!(alter_once(&mut one, size), alter_once(&mut two, age));
    by_size.expect("set retention bytes");
    by_age.expect("set segment age");
    let all = |c: &pb::TopicConfig| {
        c.retention_ms == Some(HOUR) && c.retention_bytes == Some(SIZE) && c.segment_ms == Some(AGE)
    };
    for id in 1..=2 {
        expect_config(&cluster, id, "all three changes", all).await;
    }

    // The node that was down applies every change when it returns, and a restarted
    // node keeps them.
    cluster.restart(3);
    expect_config(&cluster, 3, "all three changes", all).await;
    cluster.kill(1);
    cluster.restart(1);
    let after = expect_config(&cluster, 1, "all three changes", all).await;
    assert_eq!(after, config_on(&cluster, 3).await);
}
