//! Every `eventlog` command run into a failure prints exactly one line on stderr,
//! starting with `error:`, and exits non-zero: client commands against a missing topic
//! or group and against an unreachable server, the offline tools on a missing or locked
//! directory. A cause is never repeated in that line.

use crate::common;

use common::{BinaryServer, cli_ok, run_cli};

const UNREACHABLE: &str = "http://127.0.0.1:1";

/// Runs `args` against `server`, checks the one-line rule, and returns the line.
fn one_error_line(server: &str, args: &[&str]) -> String {
    let output = run_cli(server, args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "eventlog {args:?} succeeded");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "eventlog {args:?}: one line, got:\n{stderr}"
    );
    assert!(
        lines[0].starts_with("error: "),
        "eventlog {args:?}: {stderr}"
    );
    lines[0].to_string()
}

#[test]
fn every_command_fails_with_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = BinaryServer::start(dir.path());
    let url = server.url.clone();
    cli_ok(&url, &["topic", "create", "audit"]);
    let data_dir = dir.path().to_str().unwrap();
    let missing = dir.path().join("missing");
    let missing = missing.to_str().unwrap();

    let cases: &[(&[&str], &str)] = &[
        (&["topic", "create", "bad/name"], "INVALID_ARGUMENT"),
        (&["topic", "create", "audit"], "ALREADY_EXISTS"),
        (&["topic", "describe", "nope"], "NOT_FOUND"),
        (&["topic", "delete", "nope"], "NOT_FOUND"),
        (
            &["topic", "alter", "nope", "--retention", "1d"],
            "NOT_FOUND",
        ),
        (&["topic", "compact", "nope"], "compacting nope"),
        (
            &["topic", "compact", "--dry-run", "audit"],
            "FAILED_PRECONDITION",
        ),
        (&["produce", "nope", "x"], "NOT_FOUND"),
        (&["consume", "nope"], "NOT_FOUND"),
        (&["consume", "audit", "--from", "5"], "--partition"),
        (&["group", "describe", "nope"], "NOT_FOUND"),
        (
            &["group", "reset", "g", "--topic", "nope", "--to", "earliest"],
            "NOT_FOUND",
        ),
        (&["group", "delete", "nope"], "NOT_FOUND"),
        (
            &["verify", "--data-dir", missing],
            "not an eventlog data directory",
        ),
        (&["dump", missing], "cannot dump"),
        (&["compact", "--data-dir", missing], "cannot compact"),
        (
            &["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir],
            "locked",
        ),
    ];
    for (args, expected) in cases {
        let line = one_error_line(&url, args);
        assert!(line.contains(expected), "eventlog {args:?}: {line}");
    }

    let unreachable: &[&[&str]] = &[
        &["topic", "create", "t"],
        &["topic", "list"],
        &["topic", "describe", "t"],
        &["topic", "delete", "t"],
        &["topic", "alter", "t", "--retention", "1d"],
        &["topic", "compact"],
        &["produce", "t", "x"],
        &["consume", "t"],
        &["group", "list"],
        &["group", "describe", "g"],
        &["group", "reset", "g", "--topic", "t", "--to", "earliest"],
        &["group", "delete", "g"],
        &["bench", "produce", "--records", "1"],
    ];
    for args in unreachable {
        let line = one_error_line(UNREACHABLE, args);
        assert!(line.contains("cannot connect"), "eventlog {args:?}: {line}");
    }
    server.stop();
}

#[test]
fn offline_compaction_of_a_held_directory_says_why_once_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let server = BinaryServer::start(dir.path());
    let data_dir = dir.path().to_str().unwrap();
    let line = one_error_line(&server.url, &["compact", "--data-dir", data_dir]);
    assert_eq!(
        line.matches("is locked by another process").count(),
        1,
        "the cause is not repeated: {line}"
    );
    assert!(
        line.contains("stop the server") && line.contains("eventlog topic compact"),
        "says what to do: {line}"
    );
    server.stop();
}
