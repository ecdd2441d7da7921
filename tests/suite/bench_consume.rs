//! `eventlog bench consume` counts every record exactly once, whether it replays by
//! fetches or through subscriptions, with raw batches or one message per record, over
//! several partitions and consumers: its throughput figures are only as good as that
//! count.

use crate::common;

use std::process::Command;

use common::{BinaryServer, cli_ok};

/// Runs `eventlog bench consume` on an embedded, prefilled server with `extra` flags;
/// returns the records and payload bytes it reports.
fn consume(extra: &[&str]) -> (u64, u64) {
    let output = Command::new(env!("CARGO_BIN_EXE_eventlog"))
        .args([
            "bench",
            "consume",
            "--embedded",
            "--prefill",
            "--fsync",
            "never",
        ])
        .args([
            "--topic",
            "counted",
            "--records",
            "2500",
            "--record-size",
            "40",
        ])
        .args(["--batch", "300", "--partitions", "3", "--json"])
        .args(extra)
        .output()
        .expect("run eventlog bench");
    assert!(
        output.status.success(),
        "bench {extra:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON line");
    (
        report["records"].as_u64().expect("records"),
        report["payload_bytes"].as_u64().expect("payload_bytes"),
    )
}

#[test]
fn every_replay_mode_counts_each_record_once() {
    for extra in [
        &[][..],
        &["--subscribe"],
        &["--subscribe", "--per-record"],
        &["--subscribe", "--consumers", "2"],
        &["--per-record", "--consumers", "2"],
    ] {
        assert_eq!(consume(extra), (2500, 2500 * 40), "bench consume {extra:?}");
    }
}

/// One fetching consumer against a server in another process runs on a current-thread
/// runtime (the other modes keep the multi-threaded one): it counts the same.
#[test]
fn one_fetching_consumer_against_a_server_counts_each_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = BinaryServer::start_with(dir.path(), &["--fsync", "never"], "info");
    let size = ["--records", "2500", "--record-size", "40", "--batch", "300"];
    cli_ok(
        &server.url,
        &[&["bench", "produce", "--topic", "fetched"][..], &size].concat(),
    );
    for extra in [&[][..], &["--per-record"]] {
        let out = cli_ok(
            &server.url,
            &[
                &["bench", "consume", "--topic", "fetched", "--json"][..],
                &size,
                extra,
            ]
            .concat(),
        );
        let report: serde_json::Value = serde_json::from_str(&out).expect("one JSON line");
        assert_eq!(report["records"].as_u64(), Some(2500), "{extra:?}: {out}");
        assert_eq!(
            report["payload_bytes"].as_u64(),
            Some(2500 * 40),
            "{extra:?}: {out}"
        );
    }
    server.stop();
}
