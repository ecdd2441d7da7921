//! Retention of DELETE topics by time and by size, enforced in the background: whole
//! sealed segments go, the log start moves, and a read below it gets OUT_OF_RANGE with
//! the valid range. Size retention is switched on at runtime with UpdateTopicConfig.
//! Deletion is a prefix: a segment stamped in the future holds back the ones after it.

use crate::cleanup_support;
use crate::common;

use cleanup_support::*;
use common::{TestServer, produce};
use eventlog::client::Client;
use eventlog::proto::v1 as pb;
use tonic::Code;

/// Writes about `mib` MiB to partition 0 in 100 KiB requests (1 KiB records).
async fn fill(client: &mut Client, topic: &str, mib: usize, timestamp_ms: Option<i64>) {
    for batch in 0..mib * 10 {
        let records = (0..100)
            .map(|i| {
                sized(
                    None,
                    Some(format!("{batch}-{i}-{}", "x".repeat(1000))),
                    timestamp_ms,
                )
            })
            .collect();
        produce(client, topic, Some(0), records).await;
    }
}

#[tokio::test]
async fn time_retention_stops_at_a_segment_stamped_in_the_future() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    // No bound on future timestamps, as data written before bounds existed.
    let config = pb::TopicConfig {
        retention_ms: Some(3_600_000),
        message_timestamp_after_max_ms: Some(u64::MAX),
        ..Default::default()
    };
    create(&mut client, "skewed", config).await;
    fill(&mut client, "skewed", 2, Some(i64::MAX)).await;
    // Behind the future segments, segments of 1970: due, but deletion is a prefix.
    fill(&mut client, "skewed", 3, Some(1_000)).await;
    tokio::time::sleep(std::time::Duration::from_millis(1_000)).await;
    let p = partition0(&mut client, "skewed").await;
    assert_eq!(p.log_start_offset, 0, "{p:?}");
    assert!(p.segment_count >= 5, "{p:?}");

    // With the default bound, such a record is refused instead.
    let request = pb::UpdateTopicConfigRequest {
        name: "skewed".into(),
        set: None,
        reset: vec!["message_timestamp_after_max_ms".into()],
    };
    client.admin.update_topic_config(request).await.unwrap();
    let refused = client
        .event_log
        .produce(pb::ProduceRequest {
            topic: "skewed".into(),
            partition: Some(0),
            records: vec![sized(None, Some("late".into()), Some(i64::MAX))],
            expected_next_offset: None,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    server.stop().await;
}

#[tokio::test]
async fn segments_older_than_the_retention_time_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create(
        &mut client,
        "clicks",
        pb::TopicConfig {
            retention_ms: Some(3_600_000),
            ..Default::default()
        },
    )
    .await;
    // Records stamped in 1970 are hours past the retention as soon as they are sealed.
    fill(&mut client, "clicks", 3, Some(1_000)).await;
    let p = wait_for("old segments to be deleted", || {
        let mut client = client.clone();
        async move {
            let p = partition0(&mut client, "clicks").await;
            // Only the active segment is left; it is never deleted.
            if p.segment_count == 1 {
                Ok(p)
            } else {
                Err(format!("{p:?}"))
            }
        }
    })
    .await;
    assert!(p.log_start_offset > 0, "{p:?}");
    let below = client
        .event_log
        .fetch(pb::FetchRequest {
            topic: "clicks".into(),
            partition: 0,
            offset: 0,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(below.code(), Code::OutOfRange);
    let range = format!("{}..={}", p.log_start_offset, p.high_watermark);
    assert!(below.message().contains(&range), "{below:?}");

    // Fresh records in the same topic are kept.
    fill(&mut client, "clicks", 2, None).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let after = partition0(&mut client, "clicks").await;
    assert!(after.segment_count >= 2, "{after:?}");
    assert_eq!(after.log_start_offset, p.log_start_offset);
    server.stop().await;
}

#[tokio::test]
async fn the_oldest_segments_go_while_a_partition_is_over_its_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create(&mut client, "metrics", pb::TopicConfig::default()).await;
    fill(&mut client, "metrics", 4, None).await;
    let before = partition0(&mut client, "metrics").await;
    assert!(
        before.segment_count >= 4 && before.log_start_offset == 0,
        "{before:?}"
    );

    let limit = 3 << 19; // 1.5 MiB
    client
        .admin
        .update_topic_config(pb::UpdateTopicConfigRequest {
            name: "metrics".into(),
            set: Some(pb::TopicConfig {
                retention_bytes: Some(limit),
                ..Default::default()
            }),
            reset: vec![],
        })
        .await
        .unwrap();
    let p = wait_for("the partition to shrink below its limit", || {
        let mut client = client.clone();
        async move {
            let p = partition0(&mut client, "metrics").await;
            if p.size_bytes <= limit {
                Ok(p)
            } else {
                Err(format!("{p:?}"))
            }
        }
    })
    .await;
    assert!(p.log_start_offset > 0);
    // No more than needed: with the next-older segment back, it would exceed the limit.
    assert!(p.size_bytes + (1 << 20) > limit, "{p:?}");
    assert_eq!(p.high_watermark, before.high_watermark);
    server.stop().await;
}
