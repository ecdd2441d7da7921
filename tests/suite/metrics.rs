//! `serve --metrics-listen`: the real binary serves Prometheus metrics whose values match
//! what clients did (records produced and delivered, high watermark, group lag, errors by
//! code, latency and fsync histograms, open streams and connections; zero once the topic is deleted), and a metrics address already in
//! use stops the server with a one-line error.

use crate::common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{BinaryServer, commit, connect, create_topic, fetch_all, produce, record};
use eventlog::proto::v1 as pb;
use eventlog::storage::Record;

const TOPIC: &str = "metered";
const RECORDS: u64 = 25;
const COMMITTED: u64 = 18;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scraped_metrics_match_what_clients_did() {
    let dir = tempfile::tempdir().unwrap();
    let (server, metrics) = start_with_metrics(dir.path());
    let mut client = connect(&server.url).await;
    create_topic(&mut client, TOPIC, 1).await;
    let values: Vec<String> = (0..RECORDS).map(|i| format!("value-{i}")).collect();
    let records = values.iter().map(|v| record(None, Some(v))).collect();
    produce(&mut client, TOPIC, Some(0), records).await;
    assert_eq!(
        fetch_all(&mut client, TOPIC, 0, 0).await.len() as u64,
        RECORDS
    );
    commit(&mut client, "readers", TOPIC, &[(0, COMMITTED)])
        .await
        .expect("commit");
    let bad = client
        .event_log
        .fetch(pb::FetchRequest {
            topic: TOPIC.into(),
            partition: 0,
            offset: RECORDS + 100,
            max_records: 0,
            max_bytes: 0,
            max_wait_ms: 0,
            ..Default::default()
        })
        .await
        .expect_err("a fetch past the end fails");
    assert_eq!(bad.code(), tonic::Code::OutOfRange);

    let topic = [("topic", TOPIC)];
    let partition = [("topic", TOPIC), ("partition", "0")];
    // Gauges are refreshed in the background: wait until they show the final state.
    let scraped = scrape_until(metrics, |m| {
        m.value("eventlog_partition_high_watermark", &partition) == Some(RECORDS as f64)
            && m.value("eventlog_group_lag", &[("group", "readers")])
                .is_some()
    })
    .await;
    assert_eq!(
        scraped.value("eventlog_produced_records_total", &topic),
        Some(RECORDS as f64)
    );
    let expected_bytes: usize = values
        .iter()
        .map(|v| {
            Record {
                value: Some(Bytes::copy_from_slice(v.as_bytes())),
                ..Record::default()
            }
            .encoded_len()
        })
        .sum();
    assert_eq!(
        scraped.value("eventlog_produced_bytes_total", &topic),
        Some(expected_bytes as f64)
    );
    let fetched = [("topic", TOPIC), ("via", "fetch")];
    assert!(scraped.value("eventlog_delivered_records_total", &fetched) >= Some(RECORDS as f64));
    assert_eq!(
        scraped.value("eventlog_delivered_bytes_total", &fetched),
        Some(expected_bytes as f64)
    );
    assert_eq!(
        scraped.value(
            "eventlog_group_lag",
            &[("group", "readers"), ("topic", TOPIC), ("partition", "0")]
        ),
        Some((RECORDS - COMMITTED) as f64)
    );
    assert_eq!(
        scraped.value("eventlog_partition_log_start_offset", &partition),
        Some(0.0)
    );
    assert_eq!(
        scraped.value("eventlog_partition_segments", &partition),
        Some(1.0)
    );
    assert!(
        scraped.value("eventlog_partition_size_bytes", &partition) >= Some(expected_bytes as f64)
    );
    let fetch_errors = [
        ("service", "eventlog.v1.EventLog"),
        ("method", "Fetch"),
        ("code", "OUT_OF_RANGE"),
    ];
    assert_eq!(
        scraped.value("eventlog_rpc_errors_total", &fetch_errors),
        Some(1.0)
    );
    assert_eq!(
        scraped.sum("eventlog_rpc_errors_total", &[]),
        1.0,
        "only the bad fetch failed"
    );
    let produce_calls = [("service", "eventlog.v1.EventLog"), ("method", "Produce")];
    assert!(scraped.value("eventlog_rpc_duration_seconds_count", &produce_calls) >= Some(1.0));
    // A real histogram: cumulative buckets up to +Inf, which holds every observation.
    let produce_inf = [produce_calls[0], produce_calls[1], ("le", "+Inf")];
    assert_eq!(
        scraped.value("eventlog_rpc_duration_seconds_bucket", &produce_inf),
        scraped.value("eventlog_rpc_duration_seconds_count", &produce_calls)
    );
    for histogram in ["eventlog_rpc_duration_seconds", "eventlog_fsync_seconds"] {
        let declared = format!("# TYPE {histogram} histogram");
        assert!(scraped.text.contains(&declared), "{}", scraped.text);
    }
    // fsync=always: the produce waited for at least one fdatasync.
    assert!(scraped.value("eventlog_fsync_seconds_count", &[]) >= Some(1.0));
    assert!(scraped.value("eventlog_fsync_seconds_bucket", &[("le", "+Inf")]) >= Some(1.0));
    assert_eq!(scraped.value("eventlog_open_streams", &[]), Some(0.0));
    assert_eq!(
        scraped.value("eventlog_open_connections", &[]),
        Some(1.0),
        "one client, one connection"
    );

    open_streams_are_counted(&mut client, metrics).await;
    deleted_topics_read_zero(&mut client, metrics).await;
    server.stop();
}

/// Deleting the topic (and with it the group's commits) zeroes its gauges.
async fn deleted_topics_read_zero(client: &mut eventlog::client::Client, metrics: SocketAddr) {
    client
        .admin
        .delete_topic(pb::DeleteTopicRequest { name: TOPIC.into() })
        .await
        .expect("delete topic");
    let partition = [("topic", TOPIC), ("partition", "0")];
    let scraped = scrape_until(metrics, |m| {
        m.value("eventlog_partition_high_watermark", &partition) == Some(0.0)
    })
    .await;
    assert_eq!(
        scraped.value("eventlog_partition_size_bytes", &partition),
        Some(0.0)
    );
    assert_eq!(
        scraped.value("eventlog_partition_segments", &partition),
        Some(0.0)
    );
    assert_eq!(
        scraped.value("eventlog_group_lag", &[("group", "readers")]),
        Some(0.0)
    );
}

/// A subscription counts as an open stream while it lives, and its records as delivered.
async fn open_streams_are_counted(client: &mut eventlog::client::Client, metrics: SocketAddr) {
    let request = pb::SubscribeRequest {
        topic: TOPIC.into(),
        partition: Some(0),
        start: Some(pb::subscribe_request::Start::Position(
            pb::StartPosition::Earliest.into(),
        )),
        max_records_per_message: 0,
        reset: pb::StartPosition::Unspecified.into(),
        auto_commit_interval_ms: None,
        ..Default::default()
    };
    let mut stream = client
        .event_log
        .subscribe(request)
        .await
        .expect("subscribe")
        .into_inner();
    let read = common::read_until_caught_up(&mut stream).await;
    assert_eq!(read.len() as u64, RECORDS);
    let scraped = scrape(metrics);
    assert_eq!(scraped.value("eventlog_open_streams", &[]), Some(1.0));
    assert_eq!(
        scraped.value(
            "eventlog_delivered_records_total",
            &[("topic", TOPIC), ("via", "subscribe")]
        ),
        Some(RECORDS as f64)
    );
    drop(stream);
    scrape_until(metrics, |m| {
        m.value("eventlog_open_streams", &[]) == Some(0.0)
    })
    .await;
}

#[test]
fn a_metrics_address_in_use_stops_the_server_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_eventlog"))
        .args(["serve", "--listen", "127.0.0.1:0", "--metrics-listen"])
        .arg(addr.to_string())
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("RUST_LOG", "off")
        .output()
        .expect("run eventlog serve");
    assert!(
        !output.status.success(),
        "server ran despite the port in use"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with(&format!("error: metrics listener on {addr} failed")),
        "{stderr}"
    );
    assert!(lines[0].contains("in use"), "{stderr}");
}

/// Starts the binary with `--fsync always` and metrics on a free loopback port.
fn start_with_metrics(data_dir: &Path) -> (BinaryServer, SocketAddr) {
    // The port is free when picked but could be taken before the server binds it; a
    // server that exits before serving is retried on another port.
    for _ in 0..5 {
        let metrics = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port");
        if let Some(server) = spawn_server(data_dir, metrics) {
            return (server, metrics);
        }
    }
    panic!("the server did not start with metrics");
}

fn spawn_server(data_dir: &Path, metrics: SocketAddr) -> Option<BinaryServer> {
    let metrics = metrics.to_string();
    let args = ["--fsync", "always", "--metrics-listen", &metrics];
    BinaryServer::try_start_with(data_dir, &args, "info")
}

/// Scrapes until `ready` holds, for at most 30 s.
async fn scrape_until(metrics: SocketAddr, ready: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let scraped = scrape(metrics);
        if ready(&scraped) {
            return scraped;
        }
        assert!(
            Instant::now() < deadline,
            "metrics never got ready:\n{}",
            scraped.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `GET /metrics` over plain HTTP/1.1.
fn scrape(metrics: SocketAddr) -> Scrape {
    let mut stream = TcpStream::connect(metrics).expect("connect to the metrics port");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let (head, body) = response.split_once("\r\n\r\n").expect("HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    Scrape::parse(body)
}

/// One scrape: every sample as (name, labels, value).
struct Scrape {
    text: String,
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Scrape {
    /// Parses the Prometheus text format (label values here contain no escapes).
    fn parse(text: &str) -> Scrape {
        let mut samples = Vec::new();
        for line in text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (series, value) = line.rsplit_once(' ').expect("sample line");
            let value: f64 = value.parse().expect("sample value");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once('=').expect("label");
                    (key.to_string(), value.trim_matches('"').to_string())
                })
                .collect();
            samples.push((name.to_string(), labels, value));
        }
        Scrape {
            text: text.to_string(),
            samples,
        }
    }

    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&str, &str)],
    ) -> impl Iterator<Item = f64> + 'a {
        self.samples
            .iter()
            .filter(move |(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, value)| *value)
    }

    /// The one sample of `name` with (at least) `labels`; fails if several match.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let found: Vec<f64> = self.matching(name, labels).collect();
        assert!(
            found.len() <= 1,
            "{name} {labels:?} is ambiguous:\n{}",
            self.text
        );
        found.first().copied()
    }

    /// The sum of every sample of `name` with (at least) `labels`.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).sum()
    }
}
