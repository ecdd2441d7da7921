//! Helpers shared by the server's integration tests: a real server on `127.0.0.1:0`
//! over a temporary data directory, in-process or as the built binary, and small
//! client shortcuts.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use eventlog::broker::BrokerConfig;
use eventlog::client::Client;
use eventlog::proto::v1 as pb;
use eventlog::service::{ServeError, ServerConfig, serve};
use eventlog::storage::FsyncPolicy;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Smallest segment size the storage engine accepts; tests use it to force rolls.
pub const SMALL_SEGMENT: u64 = 1 << 20;

/// A server running in this process until [`TestServer::stop`].
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its data directory.
    pub data_dir: PathBuf,
    tls: bool,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<Result<(), ServeError>>,
}

impl TestServer {
    /// Starts a server over `data_dir` (fsync `never` keeps tests fast; durability is the
    /// storage tests' subject).
    pub async fn start(data_dir: &Path) -> TestServer {
        Self::start_with(data_dir, ServerConfig::default()).await
    }

    /// Starts a server with `config`'s TLS and token settings (its broker settings are
    /// replaced by the test defaults).
    pub async fn start_with(data_dir: &Path, config: ServerConfig) -> TestServer {
        Self::start_adjusted(data_dir, config, |_| {}).await
    }

    /// Like [`TestServer::start_with`], with `adjust` changing the test broker settings.
    pub async fn start_adjusted(
        data_dir: &Path,
        config: ServerConfig,
        adjust: impl FnOnce(&mut BrokerConfig),
    ) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let mut broker = BrokerConfig {
            data_dir: data_dir.to_path_buf(),
            fsync: FsyncPolicy::Never,
            default_segment_bytes: SMALL_SEGMENT,
            tick_interval: Duration::from_millis(100),
            ..BrokerConfig::default()
        };
        adjust(&mut broker);
        let config = ServerConfig {
            broker,
            shutdown_grace: Duration::from_secs(5),
            ..config
        };
        let tls = config.tls.is_some();
        let (shutdown, signal) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(config, listener, async move {
            let _ = signal.await;
        }));
        TestServer {
            addr,
            data_dir: data_dir.to_path_buf(),
            tls,
            shutdown,
            task,
        }
    }

    /// The server's URL (`https://` when it serves TLS).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// A connected client. The port is bound before the server opens (and locks) its
    /// data directory, so connecting succeeds at once and says nothing of that: calls
    /// wait until the server serves, and one answered means it has opened.
    pub async fn client(&self) -> Client {
        connect(&self.url()).await
    }

    /// Shuts the server down gracefully and waits until it released the data directory.
    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        self.task
            .await
            .expect("server task")
            .expect("server ended with an error");
    }
}

/// Connects to `url`, retrying for a few seconds while the server starts.
pub async fn connect(url: &str) -> Client {
    let mut last_error = None;
    for _ in 0..100 {
        match Client::connect(url).await {
            Ok(client) => return client,
            Err(err) => last_error = Some(err),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("cannot connect to {url}: {last_error:?}");
}

/// The built `eventlog` binary running `serve` on an ephemeral port.
pub struct BinaryServer {
    /// The child process.
    pub child: Child,
    /// Its URL (`https://` when it serves TLS).
    pub url: String,
    /// Everything the server wrote to stderr so far.
    stderr: Arc<Mutex<String>>,
    drain: Option<std::thread::JoinHandle<()>>,
}

impl BinaryServer {
    /// Starts `eventlog serve` over `data_dir` and waits for its "serving" log line.
    pub fn start(data_dir: &Path) -> BinaryServer {
        Self::start_with(data_dir, &[], "info")
    }

    /// Like [`BinaryServer::start`], with more `serve` flags and a `RUST_LOG` filter.
    pub fn start_with(data_dir: &Path, extra_args: &[&str], rust_log: &str) -> BinaryServer {
        Self::try_start_with(data_dir, extra_args, rust_log).expect("server exited before serving")
    }

    /// Like [`BinaryServer::start_with`], but `None` when the server exits before
    /// serving (e.g. a port given in `extra_args` was taken meanwhile). `--fsync never`
    /// unless `extra_args` names a policy.
    pub fn try_start_with(
        data_dir: &Path,
        extra_args: &[&str],
        rust_log: &str,
    ) -> Option<BinaryServer> {
        let binary = Command::new(env!("CARGO_BIN_EXE_eventlog"));
        Self::try_start_via(binary, data_dir, extra_args, rust_log)
    }

    /// Like [`BinaryServer::try_start_with`], with the `eventlog` arguments appended to
    /// `command`: the binary itself, or a shell that sets limits and `exec`s it.
    pub fn try_start_via(
        mut command: Command,
        data_dir: &Path,
        extra_args: &[&str],
        rust_log: &str,
    ) -> Option<BinaryServer> {
        let fsync: &[&str] = match extra_args.contains(&"--fsync") {
            true => &[],
            false => &["--fsync", "never"],
        };
        let mut child = command
            .args(["--log-format", "json", "serve", "--listen", "127.0.0.1:0"])
            .args(fsync)
            // Small segments: fast to create, and they roll.
            .args(["--default-segment-bytes", "1MiB"])
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra_args)
            .env("RUST_LOG", rust_log)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn eventlog serve");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let log = Arc::new(Mutex::new(String::new()));
        let keep = |line: &str| {
            let mut log = log.lock().unwrap();
            log.push_str(line);
            log.push('\n');
        };
        let url = loop {
            let Some(line) = lines.next() else {
                let _ = child.wait();
                return None;
            };
            let line = line.expect("read stderr");
            keep(&line);
            // Other crates' debug lines need not be JSON; only ours matter here.
            let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if entry["fields"]["message"] == "serving" {
                let addr = entry["fields"]["addr"].as_str().expect("addr field");
                let scheme = match entry["fields"]["tls"] == true {
                    true => "https",
                    false => "http",
                };
                break format!("{scheme}://{addr}");
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        let stderr = Arc::clone(&log);
        let drain = std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let mut log = stderr.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        Some(BinaryServer {
            child,
            url,
            stderr: log,
            drain: Some(drain),
        })
    }

    /// Stops the server like [`BinaryServer::stop`] and returns all it wrote to stderr.
    pub fn stop_and_read_log(mut self) -> String {
        self.terminate();
        if let Some(drain) = self.drain.take() {
            drain.join().expect("stderr reader");
        }
        self.stderr.lock().unwrap().clone()
    }

    /// Stops the server with SIGTERM and checks it exits cleanly.
    pub fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        assert!(status.expect("kill").success());
        let exit = self.child.wait().expect("wait for server");
        assert!(exit.success(), "server exited with {exit}");
    }
}

impl Drop for BinaryServer {
    fn drop(&mut self) {
        // Only reached without `stop` (a failing test): do not leave the process behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates `name` with `partitions` partitions and 1 MiB segments.
pub async fn create_topic(client: &mut Client, name: &str, partitions: u32) {
    client
        .admin
        .create_topic(pb::CreateTopicRequest {
            name: name.to_string(),
            partitions,
            replication_factor: 0,
            config: Some(pb::TopicConfig {
                segment_bytes: Some(SMALL_SEGMENT),
                ..Default::default()
            }),
        })
        .await
        .expect("create topic");
}

/// A record with an optional key and value and no headers (server timestamp).
pub fn record(key: Option<&str>, value: Option<&str>) -> pb::Record {
    pb::Record {
        key: key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
        value: value.map(|v| Bytes::copy_from_slice(v.as_bytes())),
        headers: Vec::new(),
        timestamp_ms: None,
    }
}

/// Produces `records` to `topic` (optionally to one partition).
pub async fn produce(
    client: &mut Client,
    topic: &str,
    partition: Option<u32>,
    records: Vec<pb::Record>,
) -> pb::ProduceResponse {
    client
        .event_log
        .produce(pb::ProduceRequest {
            topic: topic.to_string(),
            partition,
            records,
            expected_next_offset: None,
            ..Default::default()
        })
        .await
        .expect("produce")
        .into_inner()
}

/// Reads every record of a partition from `offset` up to its high watermark.
pub async fn fetch_all(
    client: &mut Client,
    topic: &str,
    partition: u32,
    mut offset: u64,
) -> Vec<pb::StoredRecord> {
    let mut records = Vec::new();
    loop {
        let reply = client
            .event_log
            .fetch(pb::FetchRequest {
                topic: topic.to_string(),
                partition,
                offset,
                max_records: 0,
                max_bytes: 0,
                max_wait_ms: 0,
                ..Default::default()
            })
            .await
            .expect("fetch")
            .into_inner();
        records.extend(reply.records);
        if reply.next_offset >= reply.high_watermark {
            return records;
        }
        offset = reply.next_offset;
    }
}

/// The value of a record as text.
pub fn value_text(record: &pb::StoredRecord) -> String {
    String::from_utf8_lossy(record.value.as_deref().unwrap_or_default()).into_owned()
}

/// Commits `offsets` (partition, next offset) for `group` on `topic`.
pub async fn commit(
    client: &mut Client,
    group: &str,
    topic: &str,
    offsets: &[(u32, u64)],
) -> Result<pb::CommitOffsetsResponse, tonic::Status> {
    client.commit_offsets(group, topic, offsets).await
}

/// `group`'s position in every partition of `topic`, in partition order.
pub async fn committed(
    client: &mut Client,
    group: &str,
    topic: &str,
) -> Vec<pb::GroupPartitionOffset> {
    client
        .event_log
        .get_committed_offsets(pb::GetCommittedOffsetsRequest {
            group: group.to_string(),
            topic: topic.to_string(),
        })
        .await
        .expect("get committed offsets")
        .into_inner()
        .partitions
}

/// The committed next offsets of `group` on `topic` by partition (`None`: no commit).
pub async fn committed_offsets(client: &mut Client, group: &str, topic: &str) -> Vec<Option<u64>> {
    committed(client, group, topic)
        .await
        .iter()
        .map(|p| p.next_offset)
        .collect()
}

/// A group subscription to every partition of `topic`.
pub fn group_subscribe_request(topic: &str, group: &str) -> pb::SubscribeRequest {
    pb::SubscribeRequest {
        topic: topic.to_string(),
        partition: None,
        start: Some(pb::subscribe_request::Start::Group(group.to_string())),
        max_records_per_message: 0,
        reset: pb::StartPosition::Unspecified.into(),
        auto_commit_interval_ms: None,
        ..Default::default()
    }
}

/// Reads `stream` until the caught-up marker and returns the records before it.
pub async fn read_until_caught_up(
    stream: &mut tonic::Streaming<pb::SubscribeResponse>,
) -> Vec<pb::StoredRecord> {
    let mut records = Vec::new();
    loop {
        let message = stream
            .message()
            .await
            .expect("subscription message")
            .expect("the stream ended");
        if message.caught_up {
            return records;
        }
        records.extend(message.records);
    }
}

/// Anonymous resident memory of process `pid` in KiB (`RssAnon`): the server's own heap
/// and stacks, without the page cache its maps show.
pub fn anon_rss_kib(pid: u32) -> u64 {
    try_anon_rss_kib(pid).expect("RssAnon in /proc status")
}

/// [`anon_rss_kib`], or `None` once the process has exited (a zombie has no memory).
pub fn try_anon_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("RssAnon:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Runs the built `eventlog` with `args` against `server` (no standard input) and
/// returns what it printed and its exit status.
pub fn run_cli(server: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_eventlog"))
        .args(args)
        .env("EVENTLOG_SERVER", server)
        .stdin(Stdio::null())
        .output()
        .expect("run eventlog")
}

/// Like [`run_cli`] for a command that must succeed; returns its standard output.
pub fn cli_ok(server: &str, args: &[&str]) -> String {
    let output = run_cli(server, args);
    assert!(
        output.status.success(),
        "eventlog {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// The entries of `<data_dir>/topics/` in name order, with the staging directory of
/// creations and deletions in progress replaced by what it holds (`~staging/<name>`):
/// after a finished or failed topic operation, exactly the topics' directories.
pub fn topic_dir_entries(data_dir: &Path) -> Vec<String> {
    let names = |dir: &Path| -> Vec<String> {
        let entries = std::fs::read_dir(dir).expect("read a topics directory");
        let mut names: Vec<String> = entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let topics = data_dir.join("topics");
    let staged = names(&topics.join("~staging"));
    let mut found: Vec<String> = names(&topics)
        .into_iter()
        .filter(|n| n != "~staging")
        .collect();
    found.extend(staged.into_iter().map(|n| format!("~staging/{n}")));
    found
}
