//! `topic list` and `topic describe` print sizes and durations the way the flags take
//! them (`1GiB`, `7d`), and what they print, given back to `topic create`, makes the
//! same settings; `--format json` keeps raw bytes and milliseconds.

use crate::common;

use std::collections::HashMap;

use common::{BinaryServer, cli_ok};

/// The rows of a text table under its header line, as column name to cell.
fn table(text: &str) -> Vec<HashMap<String, String>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header").split_whitespace().collect();
    lines
        .map(|line| {
            // Cells are separated by two or more spaces; a cell may hold one ("12h 30m").
            let cells = line.split("  ").map(str::trim).filter(|c| !c.is_empty());
            header
                .iter()
                .map(|h| h.to_string())
                .zip(cells.map(String::from))
                .collect()
        })
        .collect()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).expect("a JSON object")
}

/// The flags of `topic create` that make the settings a list row and a describe row show.
fn flags_from(row: &HashMap<String, String>) -> Vec<String> {
    let pairs = [
        ("RETENTION", "--retention"),
        ("RETENTION_BYTES", "--retention-bytes"),
        ("SEGMENT_BYTES", "--segment-bytes"),
        ("CLEANUP", "--cleanup"),
        ("SEGMENT_AGE", "--segment-age"),
        ("DELETE_RETENTION", "--delete-retention"),
        ("DIRTY_RATIO", "--dirty-ratio"),
    ];
    pairs
        .iter()
        .filter_map(|(column, flag)| match row.get(*column) {
            Some(cell) if cell != "-" => Some([flag.to_string(), cell.clone()]),
            _ => None,
        })
        .flatten()
        .collect()
}

/// Settings of `name` as `describe --format json` gives them, without the name.
fn settings(url: &str, name: &str) -> serde_json::Value {
    let mut value = json(&cli_ok(
        url,
        &["topic", "describe", name, "--format", "json"],
    ));
    let object = value.as_object_mut().unwrap();
    object.remove("name");
    object.remove("partition_details");
    value
}

#[test]
fn listed_sizes_and_durations_read_like_flags_and_create_the_same_topic() {
    let dir = tempfile::tempdir().unwrap();
    let server = BinaryServer::start(dir.path());
    let url = server.url.clone();
    let orders = "topic create orders --retention 7d --retention-bytes 1GiB --segment-bytes 64MiB";
    cli_ok(&url, &orders.split(' ').collect::<Vec<_>>());
    let state = "topic create state --cleanup compact --retention 36h --retention-bytes 1500 \
                 --segment-age 90m --delete-retention 12h --dirty-ratio 0.25";
    cli_ok(&url, &state.split_whitespace().collect::<Vec<_>>());

    let listed = table(&cli_ok(&url, &["topic", "list"]));
    let row = |name: &str| listed.iter().find(|r| r["NAME"] == name).unwrap().clone();
    assert_eq!(row("orders")["RETENTION"], "7d", "{listed:?}");
    assert_eq!(row("orders")["RETENTION_BYTES"], "1GiB", "{listed:?}");
    assert_eq!(row("orders")["SEGMENT_BYTES"], "64MiB", "{listed:?}");
    assert_eq!(row("state")["RETENTION"], "1d 12h", "{listed:?}");
    assert_eq!(row("state")["RETENTION_BYTES"], "1500B", "{listed:?}");

    // JSON keeps the raw numbers.
    let raw = json(&cli_ok(&url, &["topic", "list", "--format", "json"]));
    let orders_json = raw["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "orders")
        .unwrap();
    assert_eq!(orders_json["retention_ms"], 7 * 24 * 3600 * 1000);
    assert_eq!(orders_json["retention_bytes"], 1u64 << 30);
    assert_eq!(orders_json["segment_bytes"], 64u64 << 20);

    // What list and describe print, typed back into `topic create`, is the same topic.
    for name in ["orders", "state"] {
        let described = cli_ok(&url, &["topic", "describe", name]);
        let mut tables = described.split("\n\n").map(table);
        let mut shown = tables.next().unwrap().remove(0);
        shown.extend(tables.next().unwrap().remove(0));
        assert_eq!(shown["RETENTION"], row(name)["RETENTION"]);
        if name == "state" {
            assert_eq!(shown["SEGMENT_AGE"], "1h 30m", "{described}");
            assert_eq!(shown["DELETE_RETENTION"], "12h", "{described}");
        }
        let copy = format!("{name}-copy");
        let mut args = vec!["topic".to_string(), "create".into(), copy.clone()];
        args.extend(flags_from(&shown));
        cli_ok(&url, &args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(settings(&url, &copy), settings(&url, name), "{args:?}");
    }
    server.stop();
}
