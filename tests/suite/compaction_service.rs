//! Key compaction through the service: exactly the newest record per key survives with
//! its offset, keyless records stay, a tombstone goes only once it is older than the
//! topic's delete retention (changed at runtime with UpdateTopicConfig), the dry run
//! changes nothing, and a DELETE topic is refused.

use crate::cleanup_support;
use crate::common;

use std::collections::BTreeMap;

use cleanup_support::*;
use common::{TestServer, fetch_all, produce};
use eventlog::proto::v1 as pb;
use tonic::Code;

const TOPIC: &str = "profiles";

#[tokio::test]
async fn compaction_keeps_the_newest_record_per_key_and_tombstones_until_their_retention() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    // Segments roll by age so a few records become sealed; the background dirty-ratio
    // trigger may compact too: the assertions are on the state, whoever compacted.
    create(
        &mut client,
        TOPIC,
        pb::TopicConfig {
            cleanup_policy: pb::CleanupPolicy::Compact.into(),
            segment_ms: Some(200),
            ..Default::default()
        },
    )
    .await;

    let now = eventlog::service::convert::now_ms();
    let old = 1_000; // 1970: far older than any delete retention
    let mut written = Vec::new();
    for round in 0..3 {
        written.push(sized(Some("a"), Some(format!("a{round}")), None));
        written.push(sized(Some("b"), Some(format!("b{round}")), None));
        written.push(sized(Some("c"), Some(format!("c{round}")), None));
        written.push(sized(None, Some(format!("keyless{round}")), None));
    }
    written.push(sized(Some("a"), None, Some(old))); // a: deleted long ago
    written.push(sized(Some("b"), None, Some(now))); // b: deleted just now
    produce(&mut client, TOPIC, Some(0), written.clone()).await;
    // Seal everything: wait for the age roll, then one more record starts a new segment.
    wait_for("the first segment to roll", || {
        let mut client = client.clone();
        async move {
            let p = partition0(&mut client, TOPIC).await;
            if p.segment_count >= 2 {
                Ok(())
            } else {
                Err(format!("{p:?}"))
            }
        }
    })
    .await;
    produce(
        &mut client,
        TOPIC,
        Some(0),
        vec![sized(Some("d"), Some("d0".into()), None)],
    )
    .await;

    let dry = compact(&mut client, TOPIC, true).await.unwrap();
    assert!(dry.dry_run);
    let stats = compact(&mut client, TOPIC, false).await.unwrap();
    let p = &stats.partitions[0];
    assert!(p.bytes_after <= p.bytes_before, "{p:?}");

    let kept = fetch_all(&mut client, TOPIC, 0, 0).await;
    let by_offset: BTreeMap<u64, &pb::StoredRecord> = kept.iter().map(|r| (r.offset, r)).collect();
    // Offsets as written: 0..12 values, 12 tombstone of a (old), 13 tombstone of b (new), 14 d0.
    let offsets: Vec<u64> = by_offset.keys().copied().collect();
    assert_eq!(offsets, [3, 7, 10, 11, 13, 14], "{kept:?}");
    assert_eq!(by_offset[&10].value.as_deref(), Some(&b"c2"[..]));
    assert!(by_offset[&13].value.is_none(), "b's fresh tombstone stays");
    for offset in [3, 7, 11] {
        let value = by_offset[&offset].value.as_deref().unwrap();
        assert!(value.starts_with(b"keyless"), "keyless records stay");
    }

    // With a delete retention of zero, the next compaction removes b's tombstone too.
    client
        .admin
        .update_topic_config(pb::UpdateTopicConfigRequest {
            name: TOPIC.into(),
            set: Some(pb::TopicConfig {
                delete_retention_ms: Some(0),
                ..Default::default()
            }),
            reset: vec![],
        })
        .await
        .unwrap();
    let stats = compact(&mut client, TOPIC, false).await.unwrap();
    assert_eq!(stats.partitions[0].tombstones_removed, 1, "{stats:?}");
    let offsets: Vec<u64> = fetch_all(&mut client, TOPIC, 0, 0)
        .await
        .iter()
        .map(|r| r.offset)
        .collect();
    assert_eq!(offsets, [3, 7, 10, 11, 14]);

    // A DELETE topic is never compacted: that would drop records it promises to keep.
    cleanup_support::create(&mut client, "events", pb::TopicConfig::default()).await;
    let refused = compact(&mut client, "events", false).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    server.stop().await;
}
