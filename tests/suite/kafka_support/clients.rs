//! Real Kafka clients for the tests: kcat from the distribution and the Python
//! libraries in the virtualenv `.ci/run` prepares. A missing client fails the test
//! with how to install it, rather than skipping it.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Longest any client command may run before the test fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(90);

/// kcat, or a failure saying how to install it.
pub fn kcat() -> Command {
    let found = Command::new("kcat").arg("-V").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "kcat is not installed: run `sudo apt-get install -y kcat` (or .ci/run, which installs it)"
    );
    Command::new("kcat")
}

/// The virtualenv's Python running `tests/kafka_clients/<script>`, or a failure saying
/// how to create the virtualenv.
pub fn python_script(script: &str) -> Command {
    let venv = std::env::var_os("EVENTLOG_KAFKA_VENV").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/kafka-clients-venv"),
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    let ready = Command::new(&python)
        .args(["-c", "import confluent_kafka, kafka"])
        .output();
    assert!(
        ready.is_ok_and(|o| o.status.success()),
        "no Python with confluent-kafka and kafka-python at {}: run .ci/run, or \
         `python3 -m venv {venv} && {venv}/bin/pip install -r tests/kafka_clients/requirements.txt`",
        python.display(),
        venv = venv.display(),
    );
    let mut command = Command::new(python);
    command.arg(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/kafka_clients")
            .join(script),
    );
    command
}

/// Runs `command` to completion on a blocking thread, feeding it `stdin`, within
/// [`COMMAND_TIMEOUT`].
pub async fn run(mut command: Command, stdin: Vec<u8>) -> Output {
    tokio::task::spawn_blocking(move || {
        let shown = format!("{command:?}");
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {shown}: {err}"));
        let mut input = child.stdin.take().expect("stdin");
        std::thread::spawn(move || {
            let _ = input.write_all(&stdin);
        });
        let (mut out, mut err) = (
            child.stdout.take().expect("out"),
            child.stderr.take().expect("err"),
        );
        let out = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = out.read_to_end(&mut bytes);
            bytes
        });
        let err = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = err.read_to_end(&mut bytes);
            bytes
        });
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{shown} ran longer than {COMMAND_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Output {
            status,
            stdout: out.join().expect("stdout"),
            stderr: err.join().expect("stderr"),
        }
    })
    .await
    .expect("command thread")
}

/// Runs `command` and parses the one JSON document it prints; fails with its stderr
/// when it fails.
pub async fn run_json(command: Command) -> serde_json::Value {
    let shown = format!("{command:?}");
    let output = run(command, Vec::new()).await;
    let (out, err) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(
        output.status.success(),
        "{shown} failed: {err}\nstdout: {out}"
    );
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("bad output {out:?}: {e}"))
}
