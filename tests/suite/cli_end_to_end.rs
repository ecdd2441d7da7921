//! The `eventlog` binary end to end: serve, topic create, produce from stdin, consume
//! from earliest / an offset / a time, describe, and errors as one line with a non-zero
//! exit code.

use crate::common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::BinaryServer;

fn eventlog(server: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_eventlog"))
        .args(args)
        .env("EVENTLOG_SERVER", server)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn eventlog");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().expect("eventlog output")
}

fn ok(server: &str, args: &[&str], stdin: Option<&str>) -> String {
    let output = eventlog(server, args, stdin);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "eventlog {args:?} failed: {stderr}"
    );
    String::from_utf8(output.stdout).unwrap()
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect()
}

#[test]
fn cli_creates_produces_consumes_replays_and_describes() {
    let dir = tempfile::tempdir().unwrap();
    let server = BinaryServer::start(dir.path());
    let url = &server.url.clone();

    let created = ok(
        url,
        &[
            "topic",
            "create",
            "orders",
            "--partitions",
            "2",
            "--retention",
            "7d",
        ],
        None,
    );
    assert!(created.contains("created topic orders"), "{created}");

    let produced = ok(
        url,
        &[
            "produce",
            "orders",
            "--partition",
            "0",
            "--header",
            "src=cli",
        ],
        Some("first\nsecond\nthird\n"),
    );
    assert_eq!(produced.trim(), "partition 0 offsets 0..=2");
    let produced = ok(
        url,
        &[
            "produce",
            "orders",
            "--key-separator",
            ":",
            "--format",
            "json",
        ],
        Some("k1:a\nk1:b\n"),
    );
    let placed = json_lines(&produced);
    assert_eq!(
        placed.len(),
        1,
        "both records share a key, so a partition: {produced}"
    );

    // Consume everything, as text and as JSON.
    let text = ok(url, &["consume", "orders", "--from", "earliest"], None);
    assert!(
        text.lines().next().unwrap().starts_with("PARTITION"),
        "{text}"
    );
    for value in ["first", "second", "third", "a", "b"] {
        assert!(
            text.lines().any(|l| l.ends_with(value)),
            "{value} missing from {text}"
        );
    }
    let records = json_lines(&ok(
        url,
        &["consume", "orders", "--partition", "0", "--format", "json"],
        None,
    ));
    let values: Vec<&str> = records
        .iter()
        .filter(|r| r["key"].is_null())
        .map(|r| r["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["first", "second", "third"]);
    assert_eq!(records[0]["headers"][0]["key"], "src");
    assert_eq!(records[0]["headers"][0]["value"], "cli");

    // Replay from an offset, and from a time (everything was written after it).
    let replay = json_lines(&ok(
        url,
        &[
            "consume",
            "orders",
            "--partition",
            "0",
            "--from",
            "1",
            "--format",
            "json",
        ],
        None,
    ));
    let offsets: Vec<u64> = replay
        .iter()
        .filter(|r| r["key"].is_null())
        .map(|r| r["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets, [1, 2]);
    let from_time = json_lines(&ok(
        url,
        &[
            "consume",
            "orders",
            "--from",
            "2020-01-01T00:00:00Z",
            "--format",
            "json",
        ],
        None,
    ));
    assert_eq!(from_time.len(), 5);
    let counted = json_lines(&ok(
        url,
        &["consume", "orders", "--count", "2", "--format", "json"],
        None,
    ));
    assert_eq!(counted.len(), 2);

    let described = ok(url, &["topic", "describe", "orders"], None);
    assert!(described.contains("HIGH_WATERMARK"), "{described}");
    let described = json_lines(&ok(
        url,
        &["topic", "describe", "orders", "--format", "json"],
        None,
    ));
    let total: u64 = described[0]["partition_details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["high_watermark"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 5);
    assert_eq!(described[0]["retention_ms"], 7 * 24 * 3600 * 1000);
    let listed = ok(url, &["topic", "list"], None);
    assert!(listed.lines().any(|l| l.starts_with("orders")), "{listed}");

    // Errors: one line on stderr, non-zero exit.
    let missing = eventlog(url, &["consume", "nope"], None);
    assert!(!missing.status.success());
    let stderr = String::from_utf8(missing.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("NOT_FOUND") && stderr.contains("nope"),
        "{stderr}"
    );
    let duplicate = eventlog(url, &["topic", "create", "orders"], None);
    assert!(!duplicate.status.success());
    assert!(String::from_utf8_lossy(&duplicate.stderr).contains("ALREADY_EXISTS"));

    ok(url, &["topic", "delete", "orders"], None);
    assert!(ok(url, &["topic", "list", "--format", "json"], None).contains("\"topics\":[]"));
    server.stop();

    let unreachable = eventlog(url, &["topic", "list"], None);
    assert!(!unreachable.status.success());
    assert!(String::from_utf8_lossy(&unreachable.stderr).starts_with("error: cannot connect"));
}
