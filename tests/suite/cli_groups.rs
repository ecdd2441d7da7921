//! The `eventlog` binary with consumer groups: `consume --group --commit` resumes where
//! it stopped, `group describe` prints the lag table (and JSON), `group list`,
//! `group reset --dry-run` and for real, `group delete`, and errors as one line on
//! stderr with a non-zero exit code.

use crate::common;

use common::{BinaryServer, cli_ok as ok, run_cli as eventlog};

/// The values printed by a text `consume` (last column), header skipped.
fn printed_values(text: &str) -> Vec<String> {
    text.lines()
        .skip(1)
        .map(|l| l.rsplit(' ').next().unwrap().to_string())
        .collect()
}

#[test]
fn cli_consumes_with_a_group_and_shows_lag() {
    let dir = tempfile::tempdir().unwrap();
    let server = BinaryServer::start(dir.path());
    let url = &server.url.clone();
    ok(url, &["topic", "create", "orders", "--partitions", "2"]);
    ok(url, &["produce", "orders", "--partition", "0", "a0"]);
    ok(url, &["produce", "orders", "--partition", "0", "a1"]);
    ok(url, &["produce", "orders", "--partition", "1", "b0"]);

    // Read three records, committing each printed batch.
    let first = ok(url, &["consume", "orders", "--group", "ops", "--commit"]);
    let mut seen = printed_values(&first);
    seen.sort();
    assert_eq!(seen, ["a0", "a1", "b0"], "{first}");

    // Two more arrive; the group resumes after what it printed, and only once.
    ok(url, &["produce", "orders", "--partition", "0", "a2"]);
    ok(url, &["produce", "orders", "--partition", "1", "b1"]);
    let second = ok(
        url,
        &[
            "consume",
            "orders",
            "--group",
            "ops",
            "--commit",
            "--count",
            "1",
            "--partition",
            "1",
        ],
    );
    assert_eq!(printed_values(&second), ["b1"]);

    let table = ok(url, &["group", "describe", "ops"]);
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines,
        [
            vec!["TOPIC", "PARTITION", "COMMITTED", "HIGH-WATERMARK", "LAG"],
            vec!["orders", "0", "2", "3", "1"],
            vec!["orders", "1", "2", "2", "0"],
        ],
        "{table}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(url, &["group", "describe", "ops", "--format", "json"])).unwrap();
    assert_eq!(json["group"], "ops");
    assert_eq!(json["partitions"][0]["lag"], 1);
    assert_eq!(json["partitions"][1]["next_offset"], 2);

    let listed = ok(url, &["group", "list"]);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("ops") && l.ends_with("orders")),
        "{listed}"
    );

    // Reset: a dry run changes nothing, a real one rewinds.
    let dry = ok(
        url,
        &[
            "group",
            "reset",
            "ops",
            "--topic",
            "orders",
            "--to",
            "earliest",
            "--dry-run",
        ],
    );
    assert!(dry.contains("dry run"), "{dry}");
    let unchanged = ok(url, &["group", "describe", "ops"]);
    assert!(
        unchanged
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["orders", "0", "2", "3", "1"]),
        "{unchanged}"
    );
    ok(
        url,
        &[
            "group", "reset", "ops", "--topic", "orders", "--to", "earliest",
        ],
    );
    let rewound = ok(
        url,
        &["consume", "orders", "--group", "ops", "--partition", "0"],
    );
    assert_eq!(printed_values(&rewound), ["a0", "a1", "a2"]);

    ok(url, &["group", "delete", "ops"]);
    let missing = eventlog(url, &["group", "describe", "ops"]);
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("NOT_FOUND"), "{stderr}");

    let bad = eventlog(url, &["consume", "orders", "--commit"]);
    assert!(!bad.status.success(), "--commit needs --group");
    server.stop();
}
