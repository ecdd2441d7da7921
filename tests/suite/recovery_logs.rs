//! Recovery reports what it cut in its JSON log lines: a torn tail left at the end of a
//! partition's active segment is logged with the partition, the file, the byte position
//! where valid data ends, the bytes removed and the first offset written again. After a
//! clean stop each partition logs that it skipped its scan; a partition that cannot be
//! opened is logged as unavailable while the server starts.

use crate::common;

use std::io::Write;
use std::path::Path;

use common::{BinaryServer, connect, create_topic, produce, record};
use eventlog::proto::v1 as pb;

const RECORDS: u64 = 7;
/// Bytes that cannot start a batch (a length field far beyond the segment).
const TORN: [u8; 29] = [0xFF; 29];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_tail_is_logged_with_its_location_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let server = BinaryServer::start(dir.path());
    let mut client = connect(&server.url).await;
    create_topic(&mut client, "orders", 1).await;
    let records = (0..RECORDS).map(|_| record(None, Some("v"))).collect();
    produce(&mut client, "orders", Some(0), records).await;
    drop(client);
    // A clean stop trims the active segment to its data, so the bytes appended next
    // sit right after the last batch, as a torn write would.
    server.stop();
    let segment = dir.path().join("topics/orders/0/00000000000000000000.log");
    let valid_end = std::fs::metadata(&segment).unwrap().len();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&segment)
        .unwrap()
        .write_all(&TORN)
        .unwrap();

    let cut = restart_and_find(dir.path(), "cutting torn tail").await;
    let fields = &cut["fields"];
    assert_eq!(cut["level"], "INFO");
    assert_eq!(fields["log"], "orders/0");
    assert_eq!(fields["segment"], segment.display().to_string());
    assert_eq!(fields["position"], valid_end);
    assert_eq!(fields["bytes"], TORN.len() as u64);
    assert_eq!(fields["next_offset"], RECORDS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_restart_skips_the_scans_and_a_damaged_partition_is_logged_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let server = BinaryServer::start(dir.path());
    let mut client = connect(&server.url).await;
    create_topic(&mut client, "orders", 2).await;
    create_topic(&mut client, "broken", 1).await;
    for partition in 0..2 {
        let records = (0..RECORDS).map(|_| record(None, Some("v"))).collect();
        produce(&mut client, "orders", Some(partition), records).await;
    }
    drop(client);
    server.stop();
    let segment = dir.path().join("topics/broken/0/00000000000000000000.log");
    std::fs::write(&segment, b"NOTOURS!00000000").unwrap();

    let lines = restart_and_read(dir.path()).await;
    let with = |message: &str| -> Vec<&serde_json::Value> {
        lines
            .iter()
            .filter(|entry| entry["fields"]["message"] == message)
            .collect()
    };
    let skipped = with("scan skipped, clean shutdown marker");
    let mut logs: Vec<&str> = skipped
        .iter()
        .filter_map(|e| e["fields"]["log"].as_str())
        .collect();
    logs.sort_unstable();
    // The consumer-offsets log is a log like any other.
    assert_eq!(
        logs,
        ["__consumer_offsets/0", "orders/0", "orders/1"],
        "{skipped:?}"
    );
    let unavailable =
        with("partition unavailable: its log could not be opened; the other partitions serve");
    assert_eq!(unavailable.len(), 1, "{lines:?}");
    assert_eq!(unavailable[0]["level"], "ERROR");
    assert_eq!(unavailable[0]["fields"]["partition"], "broken/0");
    let opened = with("partitions opened");
    assert_eq!(opened[0]["fields"]["partitions"], 3);
    assert_eq!(opened[0]["fields"]["unavailable"], 1);
}

/// Starts the server over `data_dir`, returns the first JSON log line whose message is
/// `message`, and stops the server.
async fn restart_and_find(data_dir: &Path, message: &str) -> serde_json::Value {
    restart_and_read(data_dir)
        .await
        .into_iter()
        .find(|entry| entry["fields"]["message"] == message)
        .unwrap_or_else(|| panic!("no {message:?} line in the server's log"))
}

/// Starts the server over `data_dir`, waits until it answers, stops it and returns its
/// JSON log lines.
async fn restart_and_read(data_dir: &Path) -> Vec<serde_json::Value> {
    let server = BinaryServer::start_with(data_dir, &[], "info");
    // One answered request: the server is past start-up.
    let mut client = connect(&server.url).await;
    let offsets = client
        .event_log
        .list_offsets(pb::ListOffsetsRequest {
            topic: "orders".into(),
            partition: Some(0),
            timestamp_ms: None,
        })
        .await
        .expect("list offsets")
        .into_inner();
    assert_eq!(offsets.partitions[0].latest_offset, RECORDS);
    drop(client);
    let log = server.stop_and_read_log();
    log.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .collect()
}
