//! The web console in a real browser: the `eventlog` binary serves it, the test puts
//! topics, records and a group lag in place over gRPC, and
//! `tests/http_console/console_test.py` drives Debian's headless `chromium` through
//! `chromium-driver` (selenium, from the virtualenv `.ci/run` creates under target/).
//! The script checks each page and saves a screenshot of it under
//! `target/console-screenshots/`; the record it produces through the form is then read
//! back here over gRPC. A second server with a token file checks the console's login.
//! Without chromium, chromedriver or the virtualenv the test
//! fails, saying how to install them.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{BinaryServer, commit, connect, create_topic, fetch_all, produce, record};

/// The virtualenv's Python with selenium, or a failure saying how to create it.
fn python() -> PathBuf {
    let venv = std::env::var_os("EVENTLOG_CONSOLE_VENV").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/console-venv"),
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    let ready = Command::new(&python)
        .args(["-c", "import selenium"])
        .output();
    assert!(
        ready.is_ok_and(|o| o.status.success()),
        "no Python with selenium at {}: run .ci/run, or `python3 -m venv {venv} && \
         {venv}/bin/pip install -r tests/http_console/requirements.txt`",
        python.display(),
        venv = venv.display(),
    );
    for program in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        assert!(
            Path::new(program).exists(),
            "{program} is missing: apt-get install -y chromium chromium-driver"
        );
    }
    python
}

fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe");
    probe.local_addr().expect("addr").port()
}

#[tokio::test]
async fn the_console_shows_topics_records_tail_and_lag_in_a_browser() {
    let python = python();
    let dir = tempfile::tempdir().expect("tempdir");
    let http = format!("127.0.0.1:{}", free_port());
    let server = BinaryServer::start_with(dir.path(), &["--http-listen", &http], "info");
    let mut client = connect(&server.url).await;
    create_topic(&mut client, "orders", 2).await;
    create_topic(&mut client, "audit", 1).await;
    // Key order that is not sorted: the console must still pretty-print these as JSON.
    let values: Vec<String> = (0..5)
        .map(|n| format!(r#"{{"n":{n},"kind":"order"}}"#))
        .collect();
    let records = values
        .iter()
        .enumerate()
        .map(|(n, v)| record(Some(&format!("k{n}")), Some(v)))
        .collect();
    produce(&mut client, "orders", Some(0), records).await;
    commit(&mut client, "billing", "orders", &[(0, 2)])
        .await
        .expect("commit");

    let stdout = run_script(python, format!("http://{http}"), Vec::new()).await;
    assert_eq!(stdout.matches("ok:").count(), 7, "{stdout}");

    let audit = fetch_all(&mut client, "audit", 0, 0).await;
    assert_eq!(audit.len(), 1, "the form produced one record");
    assert_eq!(audit[0].key.as_deref(), Some(&b"from-form"[..]));
    assert_eq!(audit[0].value.as_deref(), Some(&br#"{"form":true}"#[..]));
    server.stop();
}

/// Runs the browser script with `args` after the base URL and screenshot directory;
/// returns its output, failing the test with it when the script fails.
async fn run_script(python: PathBuf, base: String, extra: Vec<String>) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shots = root.join("target/console-screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let script = root.join("tests/http_console/console_test.py");
    let run = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .arg(&base)
            .arg(&shots)
            .args(extra)
            .output()
            .expect("run the browser script")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        run.status.success(),
        "the browser checks failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    stdout
}

#[tokio::test]
async fn with_tokens_the_console_asks_for_one_and_keeps_it_from_scripts() {
    let python = python();
    let dir = tempfile::tempdir().expect("tempdir");
    let token = "console-admin-token-7c2e9f";
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, format!("{token} admin\n")).expect("token file");
    let http = format!("127.0.0.1:{}", free_port());
    let data = dir.path().join("data");
    let args = [
        "--http-listen",
        &http,
        "--auth-token-file",
        tokens.to_str().expect("utf-8"),
    ];
    let server = BinaryServer::start_with(&data, &args, "info");
    let options = eventlog::client::ConnectOptions {
        token: Some(token.to_string()),
        ..eventlog::client::ConnectOptions::default()
    };
    let mut client = eventlog::client::Client::connect_with(&server.url, &options)
        .await
        .expect("connect");
    create_topic(&mut client, "orders", 1).await;
    let stdout = run_script(python, format!("http://{http}"), vec![token.to_string()]).await;
    assert_eq!(stdout.matches("ok:").count(), 3, "{stdout}");
    server.stop();
}
