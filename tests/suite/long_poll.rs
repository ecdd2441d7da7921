//! A fetch at the live end with `max_wait_ms` waits for data and returns as soon as a
//! record arrives, long before its wait would end.

use crate::common;

use std::time::Duration;

use common::{TestServer, create_topic, produce, record};
use eventlog::proto::v1 as pb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_returns_when_data_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "polled", 2).await;

    // Nothing there: a short wait returns empty, at the same offset.
    let empty = client
        .event_log
        .fetch(pb::FetchRequest {
            topic: "polled".into(),
            partition: 1,
            offset: 0,
            max_wait_ms: 50,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(empty.records.is_empty());
    assert_eq!((empty.next_offset, empty.high_watermark), (0, 0));

    // A poll that may wait up to a minute; the record arrives while it waits.
    let mut poller = client.clone();
    let poll = tokio::spawn(async move {
        poller
            .event_log
            .fetch(pb::FetchRequest {
                topic: "polled".into(),
                partition: 1,
                offset: 0,
                max_wait_ms: 60_000,
                ..Default::default()
            })
            .await
    });
    // Data for another partition must not end the wait with nothing.
    produce(
        &mut client,
        "polled",
        Some(0),
        vec![record(None, Some("elsewhere"))],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    produce(
        &mut client,
        "polled",
        Some(1),
        vec![record(Some("k"), Some("arrived"))],
    )
    .await;

    // Far below the poll's own 60 s: the poll must have been woken by the append.
    let reply = tokio::time::timeout(Duration::from_secs(20), poll)
        .await
        .expect("long-poll did not return when data arrived")
        .unwrap()
        .unwrap()
        .into_inner();
    assert_eq!(reply.records.len(), 1);
    assert_eq!(reply.records[0].value.as_deref(), Some(&b"arrived"[..]));
    assert_eq!((reply.next_offset, reply.high_watermark), (1, 1));
    server.stop().await;
}
