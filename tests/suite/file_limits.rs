//! The real binary under a low open-file limit (`ulimit -n`): creating topics until the
//! limit bites fails cleanly with RESOURCE_EXHAUSTED while existing topics keep serving,
//! and thousands of sealed segments are read with a small `--max-open-segments`.

use crate::common;

use std::path::Path;
use std::process::Command;

use bytes::Bytes;
use eventlog::client::Client;
use eventlog::proto::v1 as pb;
use eventlog::storage::{FsyncPolicy, Log, LogConfig, LogIdent, Record};
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use common::{BinaryServer, fetch_all, produce, record, value_text};

/// The file limit the server runs under: low enough to reach quickly, high enough
/// for the runtime, the listener, the connection and a few partitions.
const FILE_LIMIT: u32 = 96;

/// `eventlog serve` started by a shell that first lowers the open-file limit.
fn start_limited(data_dir: &Path, extra: &[&str]) -> BinaryServer {
    let mut shell = Command::new("sh");
    shell
        .arg("-c")
        .arg(format!("ulimit -n {FILE_LIMIT} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_eventlog"));
    BinaryServer::try_start_via(shell, data_dir, extra, "info")
        .expect("server exited before serving")
}

/// Memory maps of segment files in the server process, from the kernel's table.
fn segment_maps(server: &BinaryServer) -> usize {
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", server.child.id()))
        .expect("read the server's maps");
    maps.lines()
        .filter(|line| line.trim_end().ends_with(".log"))
        .count()
}

/// One connection shared by every client below: the test never needs another file
/// descriptor on the server once it is at its limit.
async fn channel(url: &str) -> Channel {
    common::connect(url).await;
    tonic::transport::Endpoint::from_shared(url.to_string())
        .unwrap()
        .connect()
        .await
        .expect("connect")
}

fn client(channel: &Channel) -> Client {
    Client::from_channel(channel.clone())
}

async fn create(client: &mut Client, name: &str, partitions: u32) -> Result<(), tonic::Status> {
    client
        .admin
        .create_topic(pb::CreateTopicRequest {
            name: name.to_string(),
            partitions,
            replication_factor: 0,
            config: None,
        })
        .await
        .map(drop)
}

async fn assert_serving(channel: &Channel) {
    let reply = HealthClient::new(channel.clone())
        .check(HealthCheckRequest::default())
        .await
        .expect("health check")
        .into_inner();
    assert_eq!(reply.status, ServingStatus::Serving as i32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_topics_past_the_file_limit_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_limited(dir.path(), &[]);
    let channel = channel(&server.url).await;
    let mut client = client(&channel);
    create(&mut client, "kept", 1).await.expect("create kept");
    produce(
        &mut client,
        "kept",
        Some(0),
        vec![record(None, Some("before"))],
    )
    .await;

    // Every partition keeps its active segment's file open, so topics of 8 partitions
    // use the limit up after a dozen or so.
    let mut failure = None;
    for i in 0..FILE_LIMIT {
        let name = format!("t{i}");
        if let Err(status) = create(&mut client, &name, 8).await {
            failure = Some((name, status));
            break;
        }
    }
    let (failed, status) = failure.expect("the file limit never bit");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let message = status.message();
    let limit = format!("too many open files (limit {FILE_LIMIT})");
    assert!(message.contains(&limit), "{message}");
    assert!(message.contains("--max-open-segments"), "{message}");
    assert!(message.contains(&failed), "names the topic: {message}");

    // Nothing of the failed topic is left, in the server or on disk.
    let topics = client
        .admin
        .list_topics(pb::ListTopicsRequest::default())
        .await
        .expect("list topics")
        .into_inner()
        .topics;
    assert!(topics.iter().all(|t| t.name != failed));
    assert!(topics.iter().any(|t| t.name == "t0"));
    // A scratch directory in `topics/~staging/` may remain when even removing it needs a file
    // descriptor; it is never read as a topic and is removed by the next attempt.
    assert!(!dir.path().join("topics").join(&failed).exists());

    // Existing topics keep serving, and the server stays healthy.
    for topic in ["kept", "t0"] {
        produce(
            &mut client,
            topic,
            Some(0),
            vec![record(None, Some("after"))],
        )
        .await;
        let values: Vec<String> = fetch_all(&mut client, topic, 0, 0)
            .await
            .iter()
            .map(value_text)
            .collect();
        let expected: &[&str] = if topic == "kept" {
            &["before", "after"]
        } else {
            &["after"]
        };
        assert_eq!(values, expected, "topic {topic}");
    }
    assert_serving(&channel).await;

    // Deleting a topic frees its files: creation works again.
    client
        .admin
        .delete_topic(pb::DeleteTopicRequest { name: "t0".into() })
        .await
        .expect("delete t0");
    create(&mut client, &failed, 1)
        .await
        .expect("create after freeing files");
    produce(
        &mut client,
        &failed,
        Some(0),
        vec![record(None, Some("new"))],
    )
    .await;
    let values: Vec<String> = fetch_all(&mut client, &failed, 0, 0)
        .await
        .iter()
        .map(value_text)
        .collect();
    assert_eq!(values, ["new"]);
    let scratch = common::topic_dir_entries(dir.path())
        .iter()
        .filter(|name| name.contains('~'))
        .count();
    assert_eq!(scratch, 0, "the retry removed the scratch directory");
    assert_serving(&channel).await;
    drop(client);
    drop(channel);
    server.stop();
}

/// Records per sealed segment written below.
const PER_SEGMENT: u64 = 2;

fn segment_records(partition: u32, segment: u64) -> Vec<Record> {
    (0..PER_SEGMENT)
        .map(|i| Record {
            key: None,
            value: Some(Bytes::from(format!("p{partition}-s{segment}-r{i}"))),
            headers: Vec::new(),
            timestamp_ms: 1_000 + segment as i64,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_segments_are_read_under_a_low_file_limit() {
    const PARTITIONS: u32 = 4;
    const SEGMENTS: u64 = 500;
    const MAX_OPEN: usize = 8;
    let dir = tempfile::tempdir().unwrap();
    // The topic is created by a server; its partitions are then filled offline with
    // one sealed segment per batch, which no produce request could do as quickly.
    let server = BinaryServer::start(dir.path());
    let mut plain = common::connect(&server.url).await;
    common::create_topic(&mut plain, "many", PARTITIONS).await;
    drop(plain);
    server.stop();
    for partition in 0..PARTITIONS {
        let config = LogConfig {
            segment_bytes: 1 << 20,
            fsync: FsyncPolicy::Never,
            ..LogConfig::default()
        };
        let path = dir.path().join(format!("topics/many/{partition}"));
        let log = Log::open(&path, LogIdent::new("many", partition), config).unwrap();
        for segment in 0..SEGMENTS {
            log.append(&segment_records(partition, segment)).unwrap();
            log.roll().unwrap();
        }
        log.close().unwrap();
    }

    let max_open = MAX_OPEN.to_string();
    let server = start_limited(dir.path(), &["--max-open-segments", &max_open]);
    let channel = channel(&server.url).await;
    let mut client = client(&channel);
    for partition in 0..PARTITIONS {
        let records = fetch_all(&mut client, "many", partition, 0).await;
        assert_eq!(records.len() as u64, SEGMENTS * PER_SEGMENT);
        for (n, stored) in records.iter().enumerate() {
            let (segment, i) = (n as u64 / PER_SEGMENT, n as u64 % PER_SEGMENT);
            assert_eq!(stored.offset, n as u64);
            assert_eq!(value_text(stored), format!("p{partition}-s{segment}-r{i}"));
        }
    }
    // Reads hold no map once answered: what stays mapped is the cap plus one active
    // segment per partition and one of the consumer-group offsets log.
    let maps = segment_maps(&server);
    let allowed = MAX_OPEN + PARTITIONS as usize + 1;
    assert!(
        maps <= allowed,
        "{maps} segment maps, at most {allowed} expected"
    );
    assert_serving(&channel).await;
    drop(client);
    drop(channel);
    server.stop();
}

#[test]
fn a_zero_cap_is_refused_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_eventlog"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--max-open-segments",
            "0",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .expect("run eventlog serve");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--max-open-segments"), "{stderr}");
    assert!(stderr.contains("at least 1"), "{stderr}");
}

#[test]
fn more_partitions_than_files_is_a_one_line_startup_error() {
    /// More partitions than the limit has descriptors.
    const WIDE: u32 = FILE_LIMIT / 2 * 3;
    let dir = tempfile::tempdir().unwrap();
    // Partitions keep their active segment open, so a limit below their count cannot
    // serve them: the server must refuse to start, saying why.
    let server = BinaryServer::start(dir.path());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut client = common::connect(&server.url).await;
        common::create_topic(&mut client, "wide", WIDE).await;
    });
    server.stop();
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n {FILE_LIMIT} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_eventlog"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "off")
        .output()
        .expect("run eventlog serve");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    let limit = format!("too many open files (limit {FILE_LIMIT})");
    assert!(lines[0].contains(&limit), "{stderr}");
    assert!(lines[0].contains("--max-open-segments"), "{stderr}");
    assert!(lines[0].contains("wide/"), "names the partition: {stderr}");
    // Nothing was lost: with enough files the server opens the topic again.
    let server = BinaryServer::start(dir.path());
    let partitions = rt.block_on(async {
        let mut client = common::connect(&server.url).await;
        client
            .admin
            .describe_topic(pb::DescribeTopicRequest {
                name: "wide".into(),
            })
            .await
            .expect("describe wide")
            .into_inner()
            .partitions
            .len()
    });
    assert_eq!(partitions, WIDE as usize);
    server.stop();
}
