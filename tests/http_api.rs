//! The HTTP/JSON API over a real listener: topic admin, produce and fetch with each
//! encoding, error codes and statuses for bad input, the JSON content-type guard, and
//! records crossing between HTTP and gRPC byte for byte.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::{TestServer, create_topic, fetch_all, produce, record};
use eventlog::service::ServerConfig;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A server with the HTTP API on a free loopback port.
async fn start(dir: &std::path::Path) -> (TestServer, SocketAddr) {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe");
    let addr = probe.local_addr().expect("addr");
    drop(probe);
    let config = ServerConfig {
        http: Some(addr),
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(dir, config).await;
    let _ = server.client().await;
    (server, addr)
}

/// One HTTP/1.1 request on its own connection; returns the status and the body.
async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> (u16, String) {
    call_from(addr, None, method, path, content_type, body).await
}

/// [`call`] with an `Origin` header, as a browser sends it.
async fn call_from(
    addr: SocketAddr,
    origin: Option<&str>,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> (u16, String) {
    let mut stream = connect(addr).await;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(origin) = origin {
        request.push_str(&format!("Origin: {origin}\r\n"));
    }
    if let Some(content_type) = content_type {
        request.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    let answer = String::from_utf8(answer).expect("utf-8 answer");
    let (head, body) = answer.split_once("\r\n\r\n").expect("head and body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, body.to_string())
}

async fn connect(addr: SocketAddr) -> TcpStream {
    for _ in 0..100 {
        if let Ok(stream) = TcpStream::connect(addr).await {
            return stream;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("cannot connect to the HTTP listener at {addr}");
}

async fn json_call(addr: SocketAddr, method: &str, path: &str, body: Value) -> (u16, Value) {
    let (status, text) = call(
        addr,
        method,
        path,
        Some("application/json"),
        &body.to_string(),
    )
    .await;
    (status, parse(&text))
}

fn parse(text: &str) -> Value {
    if text.is_empty() {
        return Value::Null;
    }
    serde_json::from_str(text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

#[tokio::test]
async fn topics_are_created_listed_described_and_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, addr) = start(dir.path()).await;
    let (status, created) = json_call(
        addr,
        "POST",
        "/api/v1/topics",
        json!({"name": "orders", "partitions": 3}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["partitions"], 3);
    let (status, again) =
        json_call(addr, "POST", "/api/v1/topics", json!({"name": "orders"})).await;
    assert_eq!(
        (status, again["code"].as_str()),
        (409, Some("ALREADY_EXISTS"))
    );
    let (status, text) = call(addr, "GET", "/api/v1/topics", None, "").await;
    assert_eq!(status, 200);
    assert_eq!(parse(&text)[0]["name"], "orders");
    let (status, text) = call(addr, "GET", "/api/v1/topics/orders", None, "").await;
    assert_eq!(
        (status, parse(&text)["partitions"].clone()),
        (200, json!(3))
    );
    let (status, _) = call(addr, "DELETE", "/api/v1/topics/orders", None, "").await;
    assert_eq!(status, 204);
    let (status, text) = call(addr, "GET", "/api/v1/topics/orders", None, "").await;
    assert_eq!(
        (status, parse(&text)["code"].clone()),
        (404, json!("NOT_FOUND"))
    );
}

#[tokio::test]
async fn bad_inputs_get_codes_and_statuses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, addr) = start(dir.path()).await;
    let (status, bad_name) =
        json_call(addr, "POST", "/api/v1/topics", json!({"name": "bad/name"})).await;
    assert_eq!(
        (status, bad_name["code"].as_str()),
        (400, Some("INVALID_ARGUMENT"))
    );
    let (status, text) = call(
        addr,
        "POST",
        "/api/v1/topics",
        Some("application/json"),
        "{nope",
    )
    .await;
    assert_eq!(
        (status, parse(&text)["code"].clone()),
        (400, json!("INVALID_ARGUMENT"))
    );
    // A form post (which any site can make a browser send) is refused before parsing.
    let (status, _) = call(
        addr,
        "POST",
        "/api/v1/topics",
        Some("text/plain"),
        r#"{"name":"x"}"#,
    )
    .await;
    assert_eq!(status, 415);
    let (status, _) = call(addr, "GET", "/api/v1/topics/x", None, "").await;
    assert_eq!(status, 404);
    json_call(addr, "POST", "/api/v1/topics", json!({"name": "t"})).await;
    for query in [
        "offset=-1",
        "offset=abc",
        "max_records=0",
        "encoding=hex",
        "nope=1",
    ] {
        let path = format!("/api/v1/topics/t/partitions/0/records?{query}");
        let (status, text) = call(addr, "GET", &path, None, "").await;
        assert_eq!(
            (status, parse(&text)["code"].clone()),
            (400, json!("INVALID_ARGUMENT")),
            "{query}"
        );
    }
    let (status, text) = call(
        addr,
        "GET",
        "/api/v1/topics/t/partitions/7/records",
        None,
        "",
    )
    .await;
    assert_eq!(
        (status, parse(&text)["code"].clone()),
        (404, json!("NOT_FOUND"))
    );
    let bad_base64 = json!({"records": [{"value": {"encoding": "base64", "data": "!!"}}]});
    let (status, _) = json_call(addr, "POST", "/api/v1/topics/t/records", bad_base64).await;
    assert_eq!(status, 400);
    let (status, _) = json_call(
        addr,
        "POST",
        "/api/v1/topics/t/records",
        json!({"records": []}),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn records_cross_between_http_and_grpc_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, addr) = start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "mixed", 1).await;
    let body = json!({"partition": 0, "records": [
        {"key": {"encoding": "text", "data": "k1"}, "value": {"encoding": "json", "data": {"a": 1}}},
        {"value": {"encoding": "base64", "data": "/wAB"}},
        {"key": {"encoding": "text", "data": "k3"}},
    ]});
    let (status, appended) = json_call(addr, "POST", "/api/v1/topics/mixed/records", body).await;
    assert_eq!(status, 200, "{appended}");
    assert_eq!(appended[0]["last_offset"], 2);
    let over_grpc = fetch_all(&mut client, "mixed", 0, 0).await;
    let values: Vec<_> = over_grpc.iter().map(|r| r.value.clone()).collect();
    assert_eq!(
        values,
        vec![
            Some(Bytes::from_static(br#"{"a":1}"#)),
            Some(Bytes::from_static(&[0xff, 0, 1])),
            None
        ]
    );
    assert_eq!(over_grpc[0].key.as_deref(), Some(&b"k1"[..]));
    produce(
        &mut client,
        "mixed",
        Some(0),
        vec![record(Some("k4"), Some("plain text"))],
    )
    .await;
    let (status, text) = call(
        addr,
        "GET",
        "/api/v1/topics/mixed/partitions/0/records",
        None,
        "",
    )
    .await;
    assert_eq!(status, 200);
    let fetched = parse(&text);
    let records = fetched["records"].as_array().expect("records");
    assert_eq!(records.len(), 4);
    assert_eq!(
        records[0]["value"],
        json!({"encoding": "json", "data": {"a": 1}})
    );
    assert_eq!(
        records[1]["value"],
        json!({"encoding": "base64", "data": "/wAB"})
    );
    assert_eq!(records[2]["value"], Value::Null);
    assert_eq!(
        records[3]["value"],
        json!({"encoding": "text", "data": "plain text"})
    );
    assert_eq!(fetched["next_offset"], 4);
    let path = "/api/v1/topics/mixed/partitions/0/records?offset=3&encoding=base64";
    let (_, text) = call(addr, "GET", path, None, "").await;
    assert_eq!(
        parse(&text)["records"][0]["key"],
        json!({"encoding": "base64", "data": "azQ="})
    );
}

#[tokio::test]
async fn a_cross_site_request_is_refused_and_a_same_site_one_is_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, addr) = start(dir.path()).await;
    let json = Some("application/json");
    let body = r#"{"name":"t"}"#;
    let foreign = Some("https://evil.example");
    let (status, text) = call_from(addr, foreign, "POST", "/api/v1/topics", json, body).await;
    assert_eq!(
        (status, parse(&text)["code"].clone()),
        (403, json!("PERMISSION_DENIED"))
    );
    let (_, text) = call(addr, "GET", "/api/v1/topics", None, "").await;
    assert_eq!(
        parse(&text),
        json!([]),
        "the refused request created nothing"
    );
    // Reads are harmless; a page of this server itself may change state.
    let (status, _) = call_from(addr, foreign, "GET", "/api/v1/topics", None, "").await;
    assert_eq!(status, 200);
    let own = format!("http://{addr}");
    let (status, _) = call_from(addr, Some(&own), "POST", "/api/v1/topics", json, body).await;
    assert_eq!(status, 201);
    let (status, _) = call_from(addr, foreign, "DELETE", "/api/v1/topics/t", None, "").await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn groups_with_commits_are_listed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, addr) = start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "g-topic", 1).await;
    produce(
        &mut client,
        "g-topic",
        Some(0),
        vec![record(None, Some("v"))],
    )
    .await;
    client
        .event_log
        .commit_offsets(eventlog::proto::v1::CommitOffsetsRequest {
            group: "billing".into(),
            topic: "g-topic".into(),
            offsets: vec![eventlog::proto::v1::OffsetCommit {
                partition: 0,
                next_offset: 1,
                metadata: String::new(),
            }],
            ..Default::default()
        })
        .await
        .expect("commit");
    let (status, text) = call(addr, "GET", "/api/v1/groups", None, "").await;
    assert_eq!(status, 200);
    assert_eq!(
        parse(&text),
        json!([{"group": "billing", "topics": ["g-topic"]}])
    );
}
