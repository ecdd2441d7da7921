//! The real `eventlog` binary for the crash and corruption suites: started on an
//! ephemeral port over a given data directory with a chosen fsync policy, its JSON log
//! lines kept for assertions, stopped with SIGTERM or killed with SIGKILL.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A running `eventlog serve` child process.
pub struct ServerProcess {
    child: Option<Child>,
    /// The server's URL.
    pub url: String,
    logs: Arc<Mutex<Vec<serde_json::Value>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

/// How a start ended when the server never reached "serving".
#[derive(Debug)]
pub struct StartFailed {
    /// Every log line it wrote (raw text).
    pub stderr: String,
}

impl ServerProcess {
    /// Starts `eventlog serve` over `data_dir` with 1 MiB default segments and
    /// `RUST_LOG=info`, and waits for its "serving" line.
    pub fn start(data_dir: &Path, fsync: &str) -> Result<ServerProcess, StartFailed> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_eventlog"))
            .args(["--log-format", "json", "serve", "--listen", "127.0.0.1:0"])
            .args(["--fsync", fsync, "--default-segment-bytes", "1MiB"])
            .arg("--data-dir")
            .arg(data_dir)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn eventlog serve");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let raw = Arc::new(Mutex::new(String::new()));
        let (ready, addr) = mpsc::channel();
        let reader = {
            let (logs, raw) = (Arc::clone(&logs), Arc::clone(&raw));
            // Drains stderr for the whole life of the process, so it never blocks on a
            // full pipe, and announces the address once the server serves.
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    raw.lock().unwrap().push_str(&line);
                    raw.lock().unwrap().push('\n');
                    let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else {
                        continue;
                    };
                    if entry["fields"]["message"] == "serving" {
                        let addr = entry["fields"]["addr"].as_str().unwrap_or_default();
                        let _ = ready.send(addr.to_string());
                    }
                    logs.lock().unwrap().push(entry);
                }
            })
        };
        // The channel closes without an address when the process exits first.
        match addr.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => Ok(ServerProcess {
                child: Some(child),
                url: format!("http://{addr}"),
                logs,
                reader: Some(reader),
            }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                // The pipe closed with the process: the reader ends after the last line.
                let _ = reader.join();
                let stderr = raw.lock().unwrap().clone();
                Err(StartFailed { stderr })
            }
        }
    }

    /// The log lines written so far, as JSON objects.
    pub fn logs(&self) -> Vec<serde_json::Value> {
        self.logs.lock().unwrap().clone()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGKILL: no shutdown, no final sync; waits until the process is gone.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().expect("kill -9");
        child.wait().expect("wait for the killed server");
        self.join_reader();
    }

    /// Waits until every line the exited process wrote has been collected.
    fn join_reader(&mut self) {
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }

    /// SIGTERM, then waits and checks the server exited cleanly; returns its log lines.
    pub fn stop(mut self) -> Vec<serde_json::Value> {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        let exit = child.wait().expect("wait for server");
        assert!(exit.success(), "server exited with {exit}");
        self.join_reader();
        self.logs()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Only reached without `stop` or `kill9` (a failing test): leave no process behind.
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A small deterministic generator (SplitMix64) so a failing run replays from its seed.
pub struct Rng(u64);

impl Rng {
    /// A generator starting at `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `range` (start inclusive, end exclusive).
    pub fn below(&mut self, range: std::ops::Range<u64>) -> u64 {
        range.start + self.next_u64() % (range.end - range.start)
    }
}

/// The seed from `EVENTLOG_CRASH_SEED`, else one from the clock; printed either way so
/// a failure can be replayed.
pub fn seed() -> u64 {
    let seed = std::env::var("EVENTLOG_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    println!("seed: {seed} (replay with EVENTLOG_CRASH_SEED={seed})");
    seed
}

/// A record's content as produced and as read back: key, value, headers.
pub type Content = (
    Option<bytes::Bytes>,
    Option<bytes::Bytes>,
    Vec<(String, bytes::Bytes)>,
);

/// The wire form of `content` (server timestamp).
pub fn to_wire(content: &Content) -> eventlog::proto::v1::Record {
    eventlog::proto::v1::Record {
        key: content.0.clone(),
        value: content.1.clone(),
        headers: content
            .2
            .iter()
            .map(|(key, value)| eventlog::proto::v1::Header {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
        timestamp_ms: None,
    }
}

/// The content of a stored record.
pub fn content_of(record: &eventlog::proto::v1::StoredRecord) -> Content {
    (
        record.key.clone(),
        record.value.clone(),
        record
            .headers
            .iter()
            .map(|h| (h.key.clone(), h.value.clone()))
            .collect(),
    )
}

/// Every record of `topic`/`partition` from offset 0 (or the log start) to the high
/// watermark, with the log start and the high watermark.
pub async fn read_partition(
    client: &mut eventlog::client::Client,
    topic: &str,
    partition: u32,
) -> (u64, u64, Vec<eventlog::proto::v1::StoredRecord>) {
    let mut records = Vec::new();
    let mut offset = 0;
    let mut log_start = None;
    loop {
        let reply = client
            .event_log
            .fetch(eventlog::proto::v1::FetchRequest {
                topic: topic.into(),
                partition,
                offset,
                max_records: 10_000,
                max_bytes: 8 << 20,
                max_wait_ms: 0,
                ..Default::default()
            })
            .await
            .unwrap_or_else(|status| panic!("fetch {topic}/{partition}@{offset}: {status}"))
            .into_inner();
        let start = *log_start.get_or_insert(reply.log_start_offset);
        records.extend(reply.records);
        if reply.next_offset >= reply.high_watermark {
            return (start, reply.high_watermark, records);
        }
        offset = reply.next_offset;
    }
}
