//! Text logs written to a file or a pipe carry no ANSI colour codes (colour is for
//! terminals only; `NO_COLOR` is covered by the unit tests of `cli::logging`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn server_logs_into_a_pipe_have_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_eventlog"))
        .args(["--log-format", "text", "serve", "--listen", "127.0.0.1:0"])
        .args(["--fsync", "never", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn eventlog serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut log = String::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.expect("read stderr");
        log.push_str(&line);
        log.push('\n');
        if line.contains("serving") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(log.contains("INFO"), "the server logged: {log}");
    assert!(!log.contains('\u{1b}'), "escape codes in a pipe: {log:?}");
}
