//! The Kafka listener against real clients: kcat (librdkafka's command-line tool),
//! confluent-kafka (librdkafka from Python) and kafka-python, plus raw bad input.
//!
//! The clients are not optional: a missing one fails the test with how to install it
//! (`.ci/run` installs them; see `client_setup`). Each test runs its own in-process
//! server with a Kafka listener beside the gRPC one, and checks what the Kafka clients
//! did through gRPC (and the other way round), byte for byte.

use crate::common;
use crate::membership_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use common::{TestServer, create_topic, fetch_all, produce};
use eventlog::client::Client;
use eventlog::kafka::KafkaConfig;
use eventlog::proto::v1 as pb;
use eventlog::service::ServerConfig;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// Longest any client command may run before the test fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(90);
/// The Kafka listener's frame limit in these tests, small enough to exceed cheaply.
const MAX_REQUEST_BYTES: usize = 1 << 20;

/// A server with a Kafka listener, and a gRPC client of it.
struct Kafka {
    server: TestServer,
    bootstrap: String,
    addr: SocketAddr,
    client: Client,
    _dir: tempfile::TempDir,
}

impl Kafka {
    async fn start() -> Kafka {
        let dir = tempfile::tempdir().expect("tempdir");
        let addr = free_port();
        let mut kafka = KafkaConfig::new(addr);
        kafka.max_request_bytes = MAX_REQUEST_BYTES;
        let config = ServerConfig {
            kafka: Some(kafka),
            ..ServerConfig::default()
        };
        let server = TestServer::start_with(dir.path(), config).await;
        let client = server.client().await;
        wait_until_listening(addr);
        Kafka {
            server,
            bootstrap: addr.to_string(),
            addr,
            client,
            _dir: dir,
        }
    }
}

/// An unused local port (bound and released; the server binds it right after).
fn free_port() -> SocketAddr {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind probe");
    probe.local_addr().expect("probe addr")
}

fn wait_until_listening(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "kafka listener on {addr} never came up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `kcat`, or a failure saying how to install it.
fn kcat() -> PathBuf {
    let found = Command::new("kcat").arg("-V").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "kcat is not installed: run `sudo apt-get install -y kcat` (or .ci/run, which installs it)"
    );
    PathBuf::from("kcat")
}

/// The virtualenv's Python with confluent-kafka and kafka-python, or a failure saying
/// how to create it.
fn python() -> PathBuf {
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
    python
}

/// Runs a command to completion (on a blocking thread), feeding it `stdin`; its stdout,
/// or a failure with its stderr.
async fn run(mut command: Command, stdin: Vec<u8>) -> String {
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
            let mut text = String::new();
            let _ = out.read_to_string(&mut text);
            text
        });
        let err = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            text
        });
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{shown} ran longer than {COMMAND_TIMEOUT:?}; stderr: {}",
                    err.join().unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let (out, err) = (out.join().expect("stdout"), err.join().expect("stderr"));
        assert!(
            status.success(),
            "{shown} failed ({status}): {err}\nstdout: {out}"
        );
        out
    })
    .await
    .expect("command thread")
}

fn kcat_command(bootstrap: &str, args: &[&str]) -> Command {
    let mut command = Command::new(kcat());
    command.args(["-b", bootstrap]).args(args);
    command
}

async fn clients_py(args: &[&str], stdin: Vec<u8>) -> serde_json::Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/kafka_clients/clients.py");
    let mut command = Command::new(python());
    command.arg(script).args(args);
    let out = run(command, stdin).await;
    serde_json::from_str(out.trim()).unwrap_or_else(|err| panic!("bad output {out:?}: {err}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_produces_and_consumes_with_keys_and_headers() {
    let mut kafka = Kafka::start().await;
    create_topic(&mut kafka.client, "kcat", 2).await;
    let produce = kcat_command(
        &kafka.bootstrap,
        &[
            "-P",
            "-t",
            "kcat",
            "-p",
            "0",
            "-K",
            ":",
            "-H",
            "app=test",
            "-H",
            "trace=abc",
        ],
    );
    run(produce, b"k1:v1\nk2:v2\nk3:v3\n".to_vec()).await;

    let format = "%o|%k|%s|%h\n";
    let all = kcat_command(
        &kafka.bootstrap,
        &[
            "-C",
            "-t",
            "kcat",
            "-p",
            "0",
            "-o",
            "beginning",
            "-e",
            "-q",
            "-f",
            format,
        ],
    );
    assert_eq!(
        run(all, Vec::new()).await,
        "0|k1|v1|app=test,trace=abc\n1|k2|v2|app=test,trace=abc\n2|k3|v3|app=test,trace=abc\n"
    );
    let from_one = kcat_command(
        &kafka.bootstrap,
        &[
            "-C", "-t", "kcat", "-p", "0", "-o", "1", "-e", "-q", "-f", "%o|%k\n",
        ],
    );
    assert_eq!(run(from_one, Vec::new()).await, "1|k2\n2|k3\n");

    // The same records over gRPC.
    let stored = fetch_all(&mut kafka.client, "kcat", 0, 0).await;
    let header = |key: &str, value: &str| pb::Header {
        key: key.to_string(),
        value: Bytes::copy_from_slice(value.as_bytes()),
    };
    for (record, (key, value)) in stored
        .iter()
        .zip([("k1", "v1"), ("k2", "v2"), ("k3", "v3")])
    {
        assert_eq!(record.key.as_deref(), Some(key.as_bytes()));
        assert_eq!(record.value.as_deref(), Some(value.as_bytes()));
        assert_eq!(
            record.headers,
            vec![header("app", "test"), header("trace", "abc")]
        );
    }
    assert_eq!(stored.len(), 3);

    // By timestamp: records one second apart (over gRPC, which sets timestamps), then
    // from the second one's.
    let timed: Vec<pb::Record> = (0..3)
        .map(|i| pb::Record {
            timestamp_ms: Some(1_700_000_000_000 + i * 1000),
            ..common::record(Some("t"), Some(&format!("at {i}")))
        })
        .collect();
    common::produce(&mut kafka.client, "kcat", Some(1), timed).await;
    let from_time = kcat_command(
        &kafka.bootstrap,
        &[
            "-C",
            "-t",
            "kcat",
            "-p",
            "1",
            "-o",
            "s@1700000000500",
            "-e",
            "-q",
            "-f",
            "%o %s\n",
        ],
    );
    assert_eq!(run(from_time, Vec::new()).await, "1 at 1\n2 at 2\n");

    let list = run(
        kcat_command(&kafka.bootstrap, &["-L", "-t", "kcat"]),
        Vec::new(),
    )
    .await;
    assert!(list.contains("topic \"kcat\" with 2 partitions"), "{list}");
    kafka.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_kafka_round_trips_every_codec_idempotently_and_commits() {
    let mut kafka = Kafka::start().await;
    create_topic(&mut kafka.client, "codecs", 2).await;
    let out = clients_py(
        &[
            "confluent-roundtrip",
            &kafka.bootstrap,
            "codecs",
            "kafka-group",
        ],
        Vec::new(),
    )
    .await;
    assert_eq!(out["consumed"], 200, "{out}");
    assert_eq!(
        out["committed"],
        serde_json::json!({"0": 100, "1": 100}),
        "{out}"
    );

    // The commit is the group's offsets for the broker, as `eventlog group describe`
    // shows them.
    let described = kafka
        .client
        .admin
        .describe_group(pb::DescribeGroupRequest {
            group: "kafka-group".into(),
        })
        .await
        .expect("describe group")
        .into_inner();
    let offsets: Vec<(String, u32, Option<u64>)> = described
        .partitions
        .iter()
        .map(|p| (p.topic.clone(), p.partition, p.next_offset))
        .collect();
    assert_eq!(
        offsets,
        vec![
            ("codecs".into(), 0, Some(100)),
            ("codecs".into(), 1, Some(100))
        ]
    );
    let url = kafka.server.url();
    let shown = tokio::task::spawn_blocking(move || {
        common::cli_ok(&url, &["group", "describe", "kafka-group"])
    })
    .await
    .expect("cli");
    assert!(shown.contains("codecs") && shown.contains("100"), "{shown}");
    kafka.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_produces_and_consumes() {
    let mut kafka = Kafka::start().await;
    create_topic(&mut kafka.client, "kpy", 1).await;
    let out = clients_py(
        &["kafka-python-roundtrip", &kafka.bootstrap, "kpy"],
        Vec::new(),
    )
    .await;
    let expected: Vec<serde_json::Value> = (0..20)
        .map(|i| serde_json::json!([i, format!("k{i}"), format!("v{i}"), [["n", i.to_string()]]]))
        .collect();
    assert_eq!(out["records"], serde_json::Value::Array(expected), "{out}");
    assert_eq!(out["end_offset"], 20);
    let stored = fetch_all(&mut kafka.client, "kpy", 0, 0).await;
    assert_eq!(stored.len(), 20);
    kafka.server.stop().await;
}

/// Records with binary keys, values and headers, a tombstone and a keyless record.
fn binary_records() -> Vec<pb::Record> {
    let bytes = |seed: u8, len: usize| -> Bytes {
        (0..len)
            .map(|i| {
                seed.wrapping_mul(31)
                    .wrapping_add((i as u8).wrapping_mul(7))
            })
            .collect()
    };
    let base = 1_700_000_000_000;
    (0..12u8)
        .map(|i| pb::Record {
            key: (i % 5 != 4).then(|| bytes(i, 1 + usize::from(i))),
            value: (i % 6 != 3).then(|| bytes(i.wrapping_add(100), 40 * usize::from(i))),
            headers: (0..i % 3)
                .map(|h| pb::Header {
                    key: format!("h{h}"),
                    value: bytes(h.wrapping_add(i), 5),
                })
                .collect(),
            timestamp_ms: Some(base + i64::from(i) * 1000),
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A record as clients.py prints or reads it.
fn as_json(record: &pb::Record) -> serde_json::Value {
    serde_json::json!({
        "key": record.key.as_deref().map(hex),
        "value": record.value.as_deref().map(hex),
        "headers": record.headers.iter().map(|h| [h.key.clone(), hex(&h.value)]).collect::<Vec<_>>(),
        "timestamp": record.timestamp_ms,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_cross_between_grpc_and_kafka_byte_for_byte() {
    let mut kafka = Kafka::start().await;
    let records = binary_records();
    let expected: Vec<serde_json::Value> = records.iter().map(as_json).collect();

    // gRPC in, Kafka out.
    create_topic(&mut kafka.client, "grpc-in", 1).await;
    produce(&mut kafka.client, "grpc-in", Some(0), records.clone()).await;
    let out = clients_py(
        &["consume-binary", &kafka.bootstrap, "grpc-in", "12"],
        Vec::new(),
    )
    .await;
    let mut consumed = out["records"].as_array().expect("records").clone();
    for (offset, record) in consumed.iter_mut().enumerate() {
        let object = record.as_object_mut().expect("record");
        assert_eq!(object.remove("offset"), Some(serde_json::json!(offset)));
    }
    assert_eq!(consumed, expected);

    // Kafka in, gRPC out.
    create_topic(&mut kafka.client, "kafka-in", 1).await;
    let input = serde_json::to_vec(&expected).expect("json");
    let out = clients_py(&["produce-binary", &kafka.bootstrap, "kafka-in"], input).await;
    assert_eq!(
        out["offsets"],
        serde_json::json!((0..12).collect::<Vec<_>>())
    );
    let stored = fetch_all(&mut kafka.client, "kafka-in", 0, 0).await;
    let read: Vec<pb::Record> = stored
        .into_iter()
        .map(|r| pb::Record {
            key: r.key,
            value: r.value,
            headers: r.headers,
            timestamp_ms: Some(r.timestamp_ms),
        })
        .collect();
    assert_eq!(read, records);
    kafka.server.stop().await;
}

/// A request frame: header v1 or v2 as the API's version calls for, then `body`.
fn request_frame(key: ApiKey, version: i16, correlation_id: i32, body: &[u8]) -> Vec<u8> {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("bad-input-test")));
    let mut out = BytesMut::new();
    header
        .encode(&mut out, key.request_header_version(version))
        .expect("header");
    out.extend_from_slice(body);
    let mut frame = (out.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&out);
    frame
}

fn api_versions_frame(version: i16) -> Vec<u8> {
    let mut body = BytesMut::new();
    let request = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("test"))
        .with_client_software_version(StrBytes::from_static_str("1"));
    // An unknown version's body cannot be encoded; the server reads only its header.
    request.encode(&mut body, version.min(4)).expect("body");
    request_frame(ApiKey::ApiVersions, version, 7, &body)
}

/// Sends `bytes` and reads one answer frame; `None` when the server closed instead.
fn exchange(addr: SocketAddr, bytes: &[u8]) -> Option<Bytes> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(bytes).expect("send");
    let mut length = [0u8; 4];
    match stream.read_exact(&mut length) {
        Ok(()) => {}
        Err(err)
            if matches!(
                err.kind(),
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
            ) =>
        {
            return None;
        }
        Err(err) => panic!("neither an answer nor a close: {err}"),
    }
    let mut body = vec![0; u32::from_be_bytes(length) as usize];
    stream.read_exact(&mut body).expect("answer body");
    Some(Bytes::from(body))
}

/// Sends `bytes`, half-closes, and checks that the server closes without answering.
fn assert_closed(addr: SocketAddr, bytes: &[u8], what: &str) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(bytes).expect("send");
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => assert!(
            rest.is_empty(),
            "{what}: answered {rest:?} instead of closing"
        ),
        Err(err) => assert_eq!(
            err.kind(),
            std::io::ErrorKind::ConnectionReset,
            "{what}: {err}"
        ),
    }
}

fn decode_api_versions(mut answer: Bytes) -> (i32, ApiVersionsResponse) {
    let header = ResponseHeader::decode(&mut answer, 0).expect("header v0");
    // The answer to an unknown version is in version 0.
    let response = ApiVersionsResponse::decode(&mut answer, 0).expect("body");
    (header.correlation_id, response)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_closes_only_its_connection_and_leaves_data_intact() {
    let mut kafka = Kafka::start().await;
    create_topic(&mut kafka.client, "kept", 1).await;
    let records = binary_records();
    produce(&mut kafka.client, "kept", Some(0), records.clone()).await;
    let addr = kafka.addr;

    let healthy = TcpStream::connect(addr).expect("connect a healthy client first");
    tokio::task::spawn_blocking(move || {
        // A served request is answered.
        let answer = exchange(addr, &api_versions_frame(3)).expect("an answer");
        let mut body = answer.clone();
        let header = ResponseHeader::decode(&mut body, 0).expect("header");
        let response = ApiVersionsResponse::decode(&mut body, 3).expect("body");
        assert_eq!((header.correlation_id, response.error_code), (7, 0));
        let produce = response
            .api_keys
            .iter()
            .find(|k| k.api_key == ApiKey::Produce as i16)
            .expect("produce");
        assert_eq!(produce.min_version, 0);
        let join = response
            .api_keys
            .iter()
            .find(|k| k.api_key == ApiKey::JoinGroup as i16)
            .expect("join group");
        assert_eq!((join.min_version, join.max_version), (0, 9));
        assert!(
            !response
                .api_keys
                .iter()
                .any(|k| k.api_key == ApiKey::DeleteRecords as i16)
        );

        // ApiVersions at an unknown version: UNSUPPORTED_VERSION, in version 0.
        let answer = exchange(addr, &api_versions_frame(99)).expect("an answer");
        let (correlation, response) = decode_api_versions(answer);
        assert_eq!((correlation, response.error_code), (7, 35));
        assert!(!response.api_keys.is_empty());

        assert_closed(
            addr,
            &request_frame(ApiKey::Produce, 2, 1, &[0; 16]),
            "produce v2",
        );
        let mut unknown = request_frame(ApiKey::Metadata, 1, 1, &[0, 0, 0, 0]);
        unknown[4..6].copy_from_slice(&999i16.to_be_bytes());
        assert_closed(addr, &unknown, "unknown api key");
        assert_closed(
            addr,
            &request_frame(ApiKey::JoinGroup, 10, 1, &[0; 8]),
            "unserved version",
        );
        assert_closed(
            addr,
            &request_frame(ApiKey::DeleteRecords, 0, 1, &[0; 8]),
            "unserved api",
        );
        let metadata = request_frame(ApiKey::Metadata, 12, 1, &[0x05, 0x01]);
        assert_closed(addr, &metadata, "malformed body");
        // Arrays declaring far more elements than the frame holds (before the vendored
        // patch, reserving room for them aborted the server).
        let huge = request_frame(ApiKey::Metadata, 1, 1, &i32::MAX.to_be_bytes());
        assert_closed(addr, &huge, "array longer than its frame");
        let huge_compact = request_frame(ApiKey::Metadata, 12, 1, &[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert_closed(addr, &huge_compact, "compact array longer than its frame");
        let mut truncated = 100u32.to_be_bytes().to_vec();
        truncated.extend_from_slice(&[0, 3, 0, 1, 0, 0, 0, 1, 0]);
        assert_closed(addr, &truncated, "truncated frame");
        let oversized = ((MAX_REQUEST_BYTES + 1) as u32).to_be_bytes();
        assert_closed(addr, &oversized, "oversized frame");
        let garbage: Vec<u8> = (0..200u32).map(|i| (i * 73 + 11) as u8).collect();
        assert_closed(addr, &garbage, "garbage");
        let mut tiny = 3u32.to_be_bytes().to_vec();
        tiny.extend_from_slice(&[1, 2, 3]);
        assert_closed(addr, &tiny, "frame shorter than a header");

        // The connection opened before all that still works.
        let mut healthy = healthy;
        healthy
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        healthy.write_all(&api_versions_frame(3)).expect("send");
        let mut length = [0u8; 4];
        healthy.read_exact(&mut length).expect("still answered");
        let mut body = vec![0; u32::from_be_bytes(length) as usize];
        healthy.read_exact(&mut body).expect("answer");
        assert_eq!(Bytes::from(body).get_i32(), 7);
    })
    .await
    .expect("raw clients");

    let stored = fetch_all(&mut kafka.client, "kept", 0, 0).await;
    let read: Vec<pb::Record> = stored
        .into_iter()
        .map(|r| pb::Record {
            key: r.key,
            value: r.value,
            headers: r.headers,
            timestamp_ms: Some(r.timestamp_ms),
        })
        .collect();
    assert_eq!(read, records);
    kafka.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_flags_set_the_listener_its_advertised_address_and_frame_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = free_port();
    let (listen, advertised) = (addr.to_string(), format!("localhost:{}", addr.port()));
    let args = [
        "--kafka-listen",
        listen.as_str(),
        "--kafka-advertised-address",
        advertised.as_str(),
        "--kafka-max-request-bytes",
        "1KiB",
    ];
    let server = common::BinaryServer::start_with(dir.path(), &args, "info");
    wait_until_listening(addr);
    let list = run(kcat_command(&listen, &["-L"]), Vec::new()).await;
    assert!(
        list.contains(&format!("broker 0 at {advertised}")),
        "{list}"
    );
    tokio::task::spawn_blocking(move || {
        let mut big = 2048u32.to_be_bytes().to_vec();
        big.extend_from_slice(&[0; 64]);
        assert_closed(addr, &big, "a frame above --kafka-max-request-bytes");
    })
    .await
    .expect("raw client");
    let log = server.stop_and_read_log();
    assert!(
        log.contains("closing kafka connection") && log.contains("exceeds the limit of 1024 bytes"),
        "the reason is logged: {log}"
    );
}

/// One processing of a record by a group consumer: (consumer, partition, offset,
/// whether the commit after its batch went through).
type Processing = (String, u32, u64, bool);

fn processings(value: &serde_json::Value) -> Vec<Processing> {
    serde_json::from_value(value.clone()).expect("processed records")
}

fn shares(value: &serde_json::Value) -> std::collections::BTreeMap<String, Vec<u32>> {
    serde_json::from_value(value.clone()).expect("shares")
}

/// Three consumers of `library` share six partitions, two each, and consume a round
/// once each; the third leaves after processing records it did not commit, and the
/// other two, three partitions each, take over from its commits: every record is
/// consumed, and only uncommitted ones are processed again.
async fn group_takeover(library: &str) {
    use std::collections::{BTreeMap, BTreeSet};

    let mut kafka = Kafka::start().await;
    let topic = format!("shared-{library}");
    create_topic(&mut kafka.client, &topic, 6).await;
    let out = clients_py(
        &[
            "group-takeover",
            library,
            &kafka.bootstrap,
            &topic,
            "sharers",
        ],
        Vec::new(),
    )
    .await;

    let first = shares(&out["first_shares"]);
    assert_eq!(first.len(), 3);
    assert!(first.values().all(|p| p.len() == 2), "{first:?}");
    let all: BTreeSet<u32> = first.values().flatten().copied().collect();
    assert_eq!(all, (0..6).collect());
    let second = shares(&out["second_shares"]);
    assert!(second.values().all(|p| p.len() == 3), "{second:?}");
    let all: BTreeSet<u32> = second.values().flatten().copied().collect();
    assert_eq!(all, (0..6).collect());

    // The first round: every record once, by the consumer holding its partition.
    let first_round = processings(&out["first_round"]);
    assert_eq!(
        first_round.len(),
        120,
        "each record of the first round once"
    );
    for (consumer, partition, _, _) in &first_round {
        assert!(
            first[consumer].contains(partition),
            "{consumer} read {partition}"
        );
    }

    // Overall: nothing lost, and a record processed again only after a processing
    // whose commit did not go through.
    let processed = processings(&out["processed"]);
    let mut by_record: BTreeMap<(u32, u64), Vec<&Processing>> = BTreeMap::new();
    for p in &processed {
        by_record.entry((p.1, p.2)).or_default().push(p);
    }
    let expected: BTreeSet<(u32, u64)> =
        (0..6).flat_map(|p| (0..40).map(move |o| (p, o))).collect();
    assert_eq!(by_record.keys().copied().collect::<BTreeSet<_>>(), expected);
    for (record, list) in &by_record {
        for earlier in &list[..list.len() - 1] {
            assert!(
                !earlier.3,
                "{record:?} was processed again after a committed processing: {list:?}"
            );
        }
    }
    let uncommitted_by_c3 = processed.iter().filter(|p| p.0 == "c3" && !p.3).count();
    assert!(uncommitted_by_c3 > 0, "c3 left with uncommitted records");

    // Once every consumer left, the library's admin client deleted the group.
    assert_eq!(out["deleted"], "OK");
    let gone = kafka
        .client
        .admin
        .describe_group(pb::DescribeGroupRequest {
            group: "sharers".into(),
        })
        .await
        .expect_err("the group is deleted");
    assert_eq!(gone.code(), tonic::Code::NotFound, "{gone}");
    kafka.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_consumers_share_a_group_and_take_over_commits() {
    group_takeover("confluent").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_confluent_consumers_share_a_group_and_take_over_commits() {
    group_takeover("confluent-cooperative").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_consumers_share_a_group_and_take_over_commits() {
    group_takeover("kafka-python").await;
}

/// A confluent-kafka consumer joins the group of a gRPC member: they split the six
/// partitions, each reads its own, and `eventlog group describe` shows both members
/// and the Kafka consumer's commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafka_consumer_and_a_grpc_member_split_a_group() {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use eventlog::client::group_member::MemberOptions;
    use membership_support::{Ledger, spawn_member, wait_until};

    let mut kafka = Kafka::start().await;
    create_topic(&mut kafka.client, "mixed", 6).await;
    let ledger = Arc::new(Ledger::default());
    let options = MemberOptions {
        group: "mixed-group".into(),
        topics: vec!["mixed".into()],
        session_timeout: Some(Duration::from_secs(6)),
        ..MemberOptions::default()
    };
    let url = kafka.server.url();
    let grpc = spawn_member(&url, "grpc", options, Arc::clone(&ledger)).await;
    let held = Arc::clone(&grpc.assigned);
    wait_until("the gRPC member holds every partition", || {
        let held = Arc::clone(&held);
        async move { held.lock().unwrap().len() == 6 }
    })
    .await;

    let out = clients_py(
        &[
            "group-mixed",
            &kafka.bootstrap,
            "mixed",
            "mixed-group",
            env!("CARGO_BIN_EXE_eventlog"),
            &url,
        ],
        Vec::new(),
    )
    .await;
    let kafka_side: BTreeSet<u32> =
        serde_json::from_value(out["assigned"].clone()).expect("assigned");
    assert_eq!(kafka_side.len(), 3);
    // `eventlog group describe`, while the Kafka consumer was in the group.
    let described = &out["described"];
    let members = described["members"].as_array().expect("members");
    assert_eq!(members.len(), 2, "{described}");
    let clients: Vec<&str> = members
        .iter()
        .map(|m| m["client_address"].as_str().unwrap_or_default())
        .collect();
    assert!(
        clients
            .iter()
            .any(|c| c.starts_with("kafka client rdkafka")),
        "{clients:?}"
    );
    // The gRPC member held the other three then (the Kafka consumer has left since,
    // so its partitions are back with the gRPC member now).
    let grpc_member = members
        .iter()
        .find(|m| {
            !m["client_address"]
                .as_str()
                .unwrap_or_default()
                .starts_with("kafka")
        })
        .expect("the gRPC member");
    let grpc_side: BTreeSet<u32> = grpc_member["assigned"]
        .as_array()
        .expect("assigned")
        .iter()
        .filter_map(|n| n.as_str()?.strip_prefix("mixed/")?.parse().ok())
        .collect();
    assert_eq!(grpc_side.len(), 3, "{described}");
    assert!(kafka_side.is_disjoint(&grpc_side));

    // Each side read exactly its partitions' records ("{partition}-{i}").
    let read: Vec<(u32, u64)> = serde_json::from_value(out["processed"].clone()).expect("read");
    assert_eq!(read.len(), 30);
    assert!(read.iter().all(|(p, _)| kafka_side.contains(p)));
    let theirs: BTreeSet<String> = grpc_side
        .iter()
        .flat_map(|p| (0..10).map(move |i| format!("{p}-{i}")))
        .collect();
    let seen = Arc::clone(&ledger);
    wait_until("the gRPC member reads its partitions", || {
        let (seen, theirs) = (Arc::clone(&seen), theirs.clone());
        async move { seen.processed().keys().cloned().collect::<BTreeSet<_>>() == theirs }
    })
    .await;

    let partitions = described["partitions"].as_array().expect("partitions");
    for p in &kafka_side {
        let position = partitions
            .iter()
            .find(|x| x["partition"] == *p)
            .unwrap_or_else(|| panic!("partition {p} in {described}"));
        assert_eq!(position["next_offset"], 10, "{described}");
    }

    // confluent-kafka's admin client lists and describes the group alike.
    let admin = &out["admin"];
    assert_eq!(
        admin["listed"],
        serde_json::json!(["mixed-group"]),
        "{admin}"
    );
    assert_eq!(admin["state"], "STABLE", "{admin}");
    let members: Vec<(String, BTreeSet<u32>)> =
        serde_json::from_value(admin["members"].clone()).expect("admin members");
    let mut expected = vec![
        ("eventlog-grpc".to_string(), grpc_side.clone()),
        ("rdkafka".to_string(), kafka_side.clone()),
    ];
    expected.sort();
    assert_eq!(members, expected, "{admin}");
    grpc.task.abort();
    kafka.server.stop().await;
}
