//! The offline tools on a stopped server's data directory: `verify` passes a clean
//! directory and reports a flipped bit with its file and byte position (non-zero exit),
//! `dump` prints a segment's batches and records as text and JSON, and `compact`
//! refuses to touch a directory a server holds; the summary of `verify` names what it
//! checked (partitions, topics, the consumer-offsets log).

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

use common::{TestServer, create_topic, produce, record};

fn eventlog(args: &[&str], data_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eventlog"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("run eventlog")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn verify_finds_a_flipped_bit_and_dump_prints_the_segment() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "orders", 1).await;
    for batch in 0..3 {
        let records = (0..5)
            .map(|i| record(Some(&format!("k{i}")), Some(&format!("v{batch}-{i}"))))
            .collect();
        produce(&mut client, "orders", Some(0), records).await;
    }
    // Refused while the server holds the directory.
    let refused = eventlog(&["compact"], dir.path());
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("locked"),
        "{}",
        text(&refused.stderr)
    );
    server.stop().await;

    let clean = eventlog(&["verify"], dir.path());
    assert!(
        clean.status.success(),
        "{}{}",
        text(&clean.stdout),
        text(&clean.stderr)
    );
    assert!(
        text(&clean.stdout).contains("0 errors"),
        "{}",
        text(&clean.stdout)
    );

    let segment = dir.path().join("topics/orders/0/00000000000000000000.log");
    let dumped = Command::new(env!("CARGO_BIN_EXE_eventlog"))
        .arg("dump")
        .arg(&segment)
        .output()
        .unwrap();
    assert!(dumped.status.success(), "{}", text(&dumped.stderr));
    let out = text(&dumped.stdout);
    assert!(
        out.starts_with("batch at byte 16: offsets 0..=4, 5 records"),
        "{out}"
    );
    assert!(out.contains("key=\"k3\" value=\"v2-3\""), "{out}");
    let json = Command::new(env!("CARGO_BIN_EXE_eventlog"))
        .args(["dump", "--format", "json"])
        .arg(&segment)
        .output()
        .unwrap();
    let lines: Vec<serde_json::Value> = text(&json.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 3 + 15, "3 batches and 15 records");
    assert_eq!(lines[0]["batch"]["base_offset"], 0);
    assert_eq!(lines[1]["record"]["key"], "k0");

    // Flip one bit inside the first batch's records: later batches are still valid, so
    // this is corruption in the middle of the log, reported at the batch's position.
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[16 + 60] ^= 0x04;
    std::fs::write(&segment, bytes).unwrap();
    let damaged = eventlog(&["verify"], dir.path());
    let out = text(&damaged.stdout);
    assert!(!damaged.status.success(), "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line in {out}"));
    assert!(line.contains(&segment.display().to_string()), "{line}");
    assert!(line.contains("at byte 16"), "{line}");
    assert!(
        text(&damaged.stderr).contains("1 errors"),
        "{}",
        text(&damaged.stderr)
    );
    let dumped = Command::new(env!("CARGO_BIN_EXE_eventlog"))
        .arg("dump")
        .arg(&segment)
        .output()
        .unwrap();
    assert!(
        text(&dumped.stdout).starts_with("damage at byte 16"),
        "{}",
        text(&dumped.stdout)
    );
}

#[tokio::test]
async fn verify_names_what_it_checked() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "orders", 3).await;
    produce(
        &mut client,
        "orders",
        Some(1),
        vec![record(None, Some("v"))],
    )
    .await;
    common::commit(&mut client, "billing", "orders", &[(1, 1)])
        .await
        .expect("commit");
    server.stop().await;

    let summary = eventlog(&["verify"], dir.path());
    let out = text(&summary.stdout);
    assert!(summary.status.success(), "{out}{}", text(&summary.stderr));
    let last = out.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("verified 3 partitions of 1 topic and the consumer-offsets log: "),
        "{out}"
    );
    let json = eventlog(&["verify", "--format", "json"], dir.path());
    let summary: serde_json::Value = serde_json::from_slice(&json.stdout).expect("one JSON object");
    assert_eq!(summary["partitions"], 3, "{summary}");
    assert_eq!(summary["topics"], 1, "{summary}");
    assert_eq!(summary["consumer_offsets_log"], true, "{summary}");
}
