//! `scripts/compact.sh` end to end: through a running server (dry run, then for real,
//! one summary line per topic), offline on the stopped server's directory, and a
//! non-zero exit when a topic fails or a server we cannot reach holds the directory.
//! From a fresh clone it finds the binary built in its repository without any
//! environment, and says so in one line when there is none; with no compact topic, it
//! and the commands it runs say that there is nothing to compact.

use crate::common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{BinaryServer, cli_ok, run_cli};

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

const NOTHING: &str = "no topics with cleanup policy compact\n";

/// `PATH` without any directory that holds an `eventlog`.
fn path_without_eventlog() -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let kept: Vec<PathBuf> = std::env::split_paths(&path)
        .filter(|dir| !dir.join("eventlog").exists())
        .collect();
    std::env::join_paths(kept).unwrap().into_string().unwrap()
}

/// Runs `script` (a copy of compact.sh, or the real one) with neither `EVENTLOG_BIN`
/// nor an `eventlog` on the PATH.
fn bare_script(script: &Path, server: &str, data_dir: &Path) -> Output {
    Command::new("bash")
        .arg(script)
        .args(["--dry-run", "--server", server, "--data-dir"])
        .arg(data_dir)
        .env_remove("EVENTLOG_BIN")
        .env("PATH", path_without_eventlog())
        .output()
        .expect("run compact.sh")
}

/// A fresh clone as far as the script can tell: `scripts/compact.sh` and, for each
/// `(profile, binary)`, `target/<profile>/eventlog`.
fn clone_with(binaries: &[(&str, &Path)]) -> (tempfile::TempDir, PathBuf) {
    let clone = tempfile::tempdir().unwrap();
    std::fs::create_dir(clone.path().join("scripts")).unwrap();
    let script = clone.path().join("scripts/compact.sh");
    std::fs::copy(SCRIPT, &script).unwrap();
    for (profile, binary) in binaries {
        let dir = clone.path().join("target").join(profile);
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink(binary, dir.join("eventlog")).unwrap();
    }
    (clone, script)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn from_a_fresh_clone_the_script_finds_the_binary_built_next_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = BinaryServer::start(dir.path());
    let built = Path::new(env!("CARGO_BIN_EXE_eventlog"));

    let (_clone, script) = clone_with(&[("debug", built)]);
    let run = bare_script(&script, &server.url, dir.path());
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(text(&run.stdout), NOTHING);

    // The release build comes first: a stand-in that names itself shows which ran.
    let stand_in = dir.path().join("release-eventlog");
    std::fs::write(&stand_in, "#!/bin/sh\necho release build \"$@\"\n").unwrap();
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(&stand_in, mode).unwrap();
    let (_clone, script) = clone_with(&[("release", &stand_in), ("debug", built)]);
    let run = bare_script(&script, &server.url, dir.path());
    assert!(
        text(&run.stdout).starts_with("release build topic compact"),
        "{}{}",
        text(&run.stdout),
        text(&run.stderr)
    );

    // Nothing built: one line naming what is missing, and a non-zero exit.
    let (_clone, script) = clone_with(&[]);
    let run = bare_script(&script, &server.url, dir.path());
    assert!(!run.status.success());
    let stderr = text(&run.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("no eventlog binary") && stderr.contains("EVENTLOG_BIN"),
        "{stderr}"
    );

    // This repository's own script, when the tests' binary is where a build puts it.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let in_repo = ["debug", "release"]
        .iter()
        .any(|p| built == repo.join("target").join(p).join("eventlog"));
    if in_repo {
        let run = bare_script(Path::new(SCRIPT), &server.url, dir.path());
        assert!(run.status.success(), "{}", text(&run.stderr));
        assert_eq!(text(&run.stdout), NOTHING);
    }
    server.stop();
}

#[test]
fn with_no_compact_topic_a_dry_run_says_there_is_nothing_to_compact() {
    let dir = tempfile::tempdir().unwrap();
    let server = BinaryServer::start(dir.path());
    let url = server.url.clone();
    cli_ok(&url, &["topic", "create", "audit"]);
    assert_eq!(cli_ok(&url, &["topic", "compact", "--dry-run"]), NOTHING);
    assert_eq!(cli_ok(&url, &["topic", "compact"]), NOTHING);
    let json = cli_ok(&url, &["topic", "compact", "--dry-run", "--format", "json"]);
    assert_eq!(json, "", "JSON stays one object per compacted topic");
    let dry = script(&url, dir.path(), &["--dry-run"]);
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    assert_eq!(text(&dry.stdout), NOTHING);
    server.stop();

    let data_dir = dir.path().to_str().unwrap();
    let offline = run_cli(
        UNREACHABLE,
        &["compact", "--dry-run", "--data-dir", data_dir],
    );
    assert!(offline.status.success(), "{}", text(&offline.stderr));
    assert_eq!(text(&offline.stdout), NOTHING);
}
