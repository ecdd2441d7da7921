//! A partition whose log cannot be opened starts unavailable instead of stopping the
//! server: `DescribeTopic` shows it with the cause, its requests fail with UNAVAILABLE
//! naming the partition and the cause, and the other partitions serve.

use crate::common;

use std::os::unix::fs::FileExt;

use common::{TestServer, cli_ok, create_topic, fetch_all, produce, record};
use eventlog::proto::v1 as pb;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_partition_is_unavailable_while_the_others_serve() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "orders", 3).await;
    for partition in 0..3 {
        let records = vec![record(Some("k"), Some("before"))];
        produce(&mut client, "orders", Some(partition), records).await;
    }
    drop(client);
    server.stop().await;
    // A foreign header on partition 1's active segment: its log refuses to open.
    let segment = dir.path().join("topics/orders/1/00000000000000000000.log");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap();
    file.write_all_at(b"NOTOURS!", 0).unwrap();

    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    let described = client
        .admin
        .describe_topic(pb::DescribeTopicRequest {
            name: "orders".into(),
        })
        .await
        .expect("describe")
        .into_inner();
    let statuses: Vec<i32> = described.partitions.iter().map(|p| p.status).collect();
    let online = pb::PartitionStatus::Online as i32;
    let unavailable = pb::PartitionStatus::Unavailable as i32;
    assert_eq!(statuses, [online, unavailable, online]);
    let reason = &described.partitions[1].unavailable_reason;
    assert!(reason.contains("header magic"), "{reason}");
    assert!(described.partitions[0].unavailable_reason.is_empty());
    assert_eq!(described.partitions[2].high_watermark, 1);

    // The CLI shows the status and the cause beside each partition.
    let text = cli_ok(&server.url(), &["topic", "describe", "orders"]);
    let row = |p: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(p))
            .unwrap_or_else(|| panic!("no row for partition {p}: {text}"))
            .to_string()
    };
    assert!(row("0").ends_with("online"), "{text}");
    assert!(row("1").contains("unavailable: "), "{text}");
    assert!(row("1").contains("header magic"), "{text}");
    let json = cli_ok(
        &server.url(),
        &["topic", "describe", "orders", "--format", "json"],
    );
    let value: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let details = &value["partition_details"];
    assert_eq!(details[0]["status"], "online", "{json}");
    assert_eq!(details[1]["status"], "unavailable", "{json}");
    let reason = details[1]["unavailable_reason"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.contains("header magic"), "{json}");

    let refused = client
        .event_log
        .produce(pb::ProduceRequest {
            topic: "orders".into(),
            partition: Some(1),
            records: vec![record(None, Some("refused"))],
            expected_next_offset: None,
            ..Default::default()
        })
        .await
        .expect_err("partition 1 is unavailable");
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(
        refused.message().contains("orders/1"),
        "{}",
        refused.message()
    );
    assert!(
        refused.message().contains("header magic"),
        "{}",
        refused.message()
    );
    let fetch = client
        .event_log
        .fetch(pb::FetchRequest {
            topic: "orders".into(),
            partition: 1,
            offset: 0,
            max_records: 0,
            max_bytes: 0,
            max_wait_ms: 0,
            ..Default::default()
        })
        .await
        .expect_err("partition 1 is unavailable");
    assert_eq!(fetch.code(), Code::Unavailable, "{fetch:?}");

    // The other partitions serve reads and writes.
    produce(
        &mut client,
        "orders",
        Some(2),
        vec![record(None, Some("after"))],
    )
    .await;
    let read = fetch_all(&mut client, "orders", 2, 0).await;
    assert_eq!(read.len(), 2);
    assert_eq!(fetch_all(&mut client, "orders", 0, 0).await.len(), 1);
    drop(client);
    server.stop().await;
}
