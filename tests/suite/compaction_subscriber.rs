//! A subscriber reading a partition while it is compacted is not disturbed: no error,
//! offsets strictly increasing (no duplicates), and every record it gets is the record
//! written at that offset; records removed under it simply show up as gaps.

use crate::cleanup_support;
use crate::common;

use std::collections::HashMap;

use cleanup_support::*;
use common::{TestServer, produce};
use eventlog::proto::v1 as pb;

const TOPIC: &str = "changelog";
const KEYS: usize = 50;

#[tokio::test]
async fn a_subscriber_reading_through_a_compaction_sees_only_kept_records_or_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create(
        &mut client,
        TOPIC,
        pb::TopicConfig {
            cleanup_policy: pb::CleanupPolicy::Compact.into(),
            // No background compaction: this test compacts on demand, in the middle of
            // the subscriber's read.
            min_cleanable_dirty_ratio: Some(1.0),
            ..Default::default()
        },
    )
    .await;
    // About 3 MiB in 1 MiB segments: two or three sealed segments to compact.
    let mut written: HashMap<u64, String> = HashMap::new();
    let mut next = 0u64;
    for batch in 0..30 {
        let records: Vec<pb::Record> = (0..100)
            .map(|i| {
                let value = format!("{batch}-{i}-{}", "x".repeat(1000));
                sized(
                    Some(&format!("key-{}", (batch * 100 + i) % KEYS)),
                    Some(value),
                    None,
                )
            })
            .collect();
        for record in &records {
            let value = String::from_utf8(record.value.as_ref().unwrap().to_vec()).unwrap();
            written.insert(next, value);
            next += 1;
        }
        produce(&mut client, TOPIC, Some(0), records).await;
    }
    assert!(partition0(&mut client, TOPIC).await.segment_count >= 3);

    // The subscriber's connection has small HTTP/2 windows, so the server can read
    // only a few messages ahead of it: most of the log is still unread when the
    // compaction commits, however fast the server runs.
    let channel = tonic::transport::Endpoint::from_shared(server.url())
        .unwrap()
        .initial_stream_window_size(Some(64 << 10))
        .initial_connection_window_size(Some(64 << 10))
        .connect()
        .await
        .unwrap();
    let mut stream = eventlog::client::Client::from_channel(channel)
        .event_log
        .subscribe(pb::SubscribeRequest {
            topic: TOPIC.into(),
            partition: Some(0),
            max_records_per_message: 20,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut seen = Vec::new();
    let mut compacted = false;
    loop {
        let message = stream
            .message()
            .await
            .expect("no error")
            .expect("stream open");
        for record in &message.records {
            let value = String::from_utf8(record.value.as_ref().unwrap().to_vec()).unwrap();
            assert_eq!(
                written.get(&record.offset),
                Some(&value),
                "offset {}",
                record.offset
            );
            seen.push(record.offset);
        }
        if message.caught_up {
            break;
        }
        // Compact once the reader is inside the first segment; it goes on reading.
        if !compacted && seen.len() >= 100 {
            let stats = compact(&mut client, TOPIC, false).await.unwrap();
            assert!(stats.partitions[0].records_removed > 0, "{stats:?}");
            compacted = true;
        }
    }
    assert!(compacted, "the read ended before the compaction ran");
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "offsets strictly increase"
    );
    // Everything after what was read before the compaction is the compacted log: the
    // newest record of every key is among what the subscriber saw.
    for key in 0..KEYS as u64 {
        let newest = (0..next).rev().find(|o| o % KEYS as u64 == key).unwrap();
        assert!(
            seen.contains(&newest),
            "newest record of key {key} at {newest}"
        );
    }
    assert!(
        seen.len() < next as usize,
        "the subscriber skipped removed records"
    );
    server.stop().await;
}
