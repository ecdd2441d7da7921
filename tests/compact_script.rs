//! `scripts/compact.sh` end to end: through a running server (dry run, then for real,
//! one summary line per topic), offline on the stopped server's directory, and a
//! non-zero exit when a topic fails or a server we cannot reach holds the directory.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::BinaryServer;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/compact.sh");
const UNREACHABLE: &str = "http://127.0.0.1:1";

fn script(server: &str, data_dir: &Path, args: &[&str]) -> Output {
    Command::new("bash")
        .arg(SCRIPT)
        .args(["--server", server, "--data-dir"])
        .arg(data_dir)
        .args(args)
        .env("EVENTLOG_BIN", env!("CARGO_BIN_EXE_eventlog"))
        .output()
        .expect("run compact.sh")
}

fn cli(server: &str, args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_eventlog"))
        .args(args)
        .env("EVENTLOG_SERVER", server)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .unwrap();
    drop(input);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "eventlog {args:?}: {stderr}");
    String::from_utf8(output.stdout).unwrap()
}

/// About 2.5 MiB of updates to 50 keys: more than two segments, so some seal.
fn updates(round: usize) -> String {
    (0..2500)
        .map(|i| format!("k{}:{round}-{i}-{}\n", i % 50, "x".repeat(1000)))
        .collect()
}

/// `(bytes before, bytes after)` from a summary line `TOPIC: bytes A -> B, ...`.
fn bytes(line: &str) -> (u64, u64) {
    let rest = line.split("bytes ").nth(1).expect("bytes in the line");
    let mut numbers = rest
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u64>().unwrap());
    (numbers.next().unwrap(), numbers.next().unwrap())
}

#[test]
fn the_script_compacts_through_the_server_and_offline() {
    let dir = tempfile::tempdir().unwrap();
    let server = BinaryServer::start(dir.path());
    let url = server.url.clone();
    let create = [
        "topic",
        "create",
        "state",
        "--cleanup",
        "compact",
        "--segment-bytes",
        "1MiB",
    ];
    cli(&url, &create, None);
    cli(&url, &["topic", "create", "audit"], None);
    // Background compaction off, so the script's run is the one that reclaims.
    cli(
        &url,
        &["topic", "alter", "state", "--dirty-ratio", "1"],
        None,
    );
    cli(
        &url,
        &["produce", "state", "--key-separator", ":"],
        Some(&updates(0)),
    );

    let dry = script(&url, dir.path(), &["--dry-run"]);
    let out = String::from_utf8_lossy(&dry.stdout).into_owned();
    assert!(
        dry.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert_eq!(out.lines().count(), 1, "one line per compact topic: {out}");
    assert!(out.starts_with("state: would reclaim about"), "{out}");
    assert!(out.contains("[dry run, online]"), "{out}");
    let (dry_before, dry_after) = bytes(&out);
    assert!(dry_after < dry_before / 2, "{out}");

    let run = script(&url, dir.path(), &[]);
    let out = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        run.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        out.starts_with("state: bytes ") && out.contains("[online]"),
        "{out}"
    );
    let (before, after) = bytes(&out);
    assert_eq!(before, dry_before, "the dry run saw the same segments");
    assert!(after <= dry_after, "the estimate errs low: {out}");

    // A DELETE topic named explicitly fails, and the exit code says so.
    let failed = script(&url, dir.path(), &["audit"]);
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stderr).contains("FAILED_PRECONDITION"));

    // A server we cannot reach still holds the directory: offline refuses.
    let locked = script(UNREACHABLE, dir.path(), &[]);
    assert!(!locked.status.success());
    assert!(String::from_utf8_lossy(&locked.stderr).contains("locked"));

    cli(
        &url,
        &["produce", "state", "--key-separator", ":"],
        Some(&updates(1)),
    );
    server.stop();
    let offline = script(UNREACHABLE, dir.path(), &[]);
    let out = String::from_utf8_lossy(&offline.stdout).into_owned();
    assert!(
        offline.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&offline.stderr)
    );
    assert!(
        out.starts_with("state: bytes ") && out.contains("[offline]"),
        "{out}"
    );
    let (before, after) = bytes(&out);
    assert!(
        after < before,
        "the second round's sealed updates were compacted: {out}"
    );
}
