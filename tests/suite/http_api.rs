//! The HTTP/JSON API over a real listener: topic admin, produce and fetch with each
//! encoding, error codes and statuses for bad input, the JSON content-type guard, and
//! records crossing between HTTP and gRPC byte for byte.

use crate::common;
use crate::http_support;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::{TestServer, create_topic, fetch_all, produce, record};
use eventlog::service::ServerConfig;
use http_support::{call, call_from, connect, json_call, parse};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

/// Produces `count` text records `v0..` over HTTP to one partition, stamped `ts0 + i`.
async fn produce_http(addr: SocketAddr, topic: &str, partition: u32, count: usize, ts0: i64) {
    let records: Vec<Value> = (0..count)
        .map(|i| {
            json!({"value": {"encoding": "text", "data": format!("v{i}")},
                   "timestamp_ms": ts0 + i as i64})
        })
        .collect();
    let body = json!({"partition": partition, "records": records});
    let path = format!("/api/v1/topics/{topic}/records");
    let (status, answer) = json_call(addr, "POST", &path, body).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn a_topic_config_is_altered_and_described_with_its_partitions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, addr) = start(dir.path()).await;
    json_call(
        addr,
        "POST",
        "/api/v1/topics",
        json!({"name": "cfg", "partitions": 2}),
    )
    .await;
    produce_http(addr, "cfg", 1, 3, 1_000).await;
    let patch = json!({"retention_ms": 60_000, "cleanup_policy": "compact"});
    let (status, altered) = json_call(addr, "PATCH", "/api/v1/topics/cfg", patch).await;
    assert_eq!(status, 200, "{altered}");
    assert_eq!(altered["config"]["retention_ms"], 60_000);
    assert_eq!(altered["config"]["cleanup_policy"], "compact");
    let (_, reset) = json_call(
        addr,
        "PATCH",
        "/api/v1/topics/cfg",
        json!({"retention_ms": null}),
    )
    .await;
    assert_eq!(reset["config"]["retention_ms"], Value::Null);
    assert_eq!(
        reset["config"]["cleanup_policy"], "compact",
        "absent fields are kept"
    );
    let (status, bad) =
        json_call(addr, "PATCH", "/api/v1/topics/cfg", json!({"retention": 1})).await;
    assert_eq!(
        (status, bad["code"].as_str()),
        (400, Some("INVALID_ARGUMENT"))
    );
    let (status, bad) = json_call(
        addr,
        "PATCH",
        "/api/v1/topics/cfg",
        json!({"retention_ms": 0}),
    )
    .await;
    assert_eq!(
        (status, bad["code"].as_str()),
        (400, Some("INVALID_ARGUMENT")),
        "{bad}"
    );
    let (status, _) = call(
        addr,
        "PATCH",
        "/api/v1/topics/cfg",
        Some("text/plain"),
        "{}",
    )
    .await;
    assert_eq!(status, 415);
    let (status, missing) = json_call(
        addr,
        "PATCH",
        "/api/v1/topics/nope",
        json!({"retention_ms": 5}),
    )
    .await;
    assert_eq!((status, missing["code"].as_str()), (404, Some("NOT_FOUND")));
    let (_, text) = call(addr, "GET", "/api/v1/topics/cfg", None, "").await;
    let described = parse(&text);
    assert_eq!(described["partition_stats"][1]["high_watermark"], 3);
    assert_eq!(described["partition_stats"][0]["high_watermark"], 0);
    assert!(described["partition_stats"][1]["size_bytes"].as_u64() > Some(0));
}

#[tokio::test]
async fn records_are_fetched_from_a_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, addr) = start(dir.path()).await;
    json_call(addr, "POST", "/api/v1/topics", json!({"name": "timed"})).await;
    produce_http(addr, "timed", 0, 5, 1_000_000).await;
    let path = "/api/v1/topics/timed/partitions/0/records?timestamp_ms=1000003";
    let (status, text) = call(addr, "GET", path, None, "").await;
    assert_eq!(status, 200, "{text}");
    let offsets: Vec<_> = parse(&text)["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["offset"].as_u64().expect("offset"))
        .collect();
    assert_eq!(offsets, vec![3, 4]);
    let path = "/api/v1/topics/timed/partitions/0/records?timestamp_ms=9000000";
    let (_, text) = call(addr, "GET", path, None, "").await;
    assert_eq!(
        parse(&text)["records"],
        json!([]),
        "after every record: none"
    );
    let path = "/api/v1/topics/timed/partitions/0/records?timestamp_ms=1&offset=1";
    let (status, _) = call(addr, "GET", path, None, "").await;
    assert_eq!(status, 400);
    let path = "/api/v1/topics/timed/partitions/0/records?timestamp_ms=soon";
    let (status, _) = call(addr, "GET", path, None, "").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_group_is_committed_described_reset_and_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, addr) = start(dir.path()).await;
    json_call(
        addr,
        "POST",
        "/api/v1/topics",
        json!({"name": "work", "partitions": 2}),
    )
    .await;
    produce_http(addr, "work", 0, 5, 1_000).await;
    let commit = json!({"offsets": [{"partition": 0, "next_offset": 2}]});
    let (status, _) = json_call(
        addr,
        "POST",
        "/api/v1/groups/app/topics/work/offsets",
        commit,
    )
    .await;
    assert_eq!(status, 204);
    let (status, described) = json_call(addr, "GET", "/api/v1/groups/app", Value::Null).await;
    assert_eq!(status, 200);
    assert_eq!(described["partitions"][0]["committed_offset"], 2);
    assert_eq!(described["partitions"][0]["lag"], 3);
    assert_eq!(described["members"], json!([]), "no member has joined");
    let (_, positions) =
        json_call(addr, "GET", "/api/v1/groups/app/topics/work", Value::Null).await;
    assert_eq!(positions[1]["committed_offset"], Value::Null);
    assert_eq!(positions[1]["lag"], 0);
    let past_end = json!({"offsets": [{"partition": 0, "next_offset": 99}]});
    let (status, refused) = json_call(
        addr,
        "POST",
        "/api/v1/groups/app/topics/work/offsets",
        past_end,
    )
    .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (400, Some("OUT_OF_RANGE")),
        "{refused}"
    );
    let dry = json!({"to": "latest", "partition": 0, "dry_run": true});
    let (status, preview) =
        json_call(addr, "POST", "/api/v1/groups/app/topics/work/reset", dry).await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(
        preview,
        json!([{"partition": 0, "previous": 2, "next_offset": 5}])
    );
    let (_, still) = json_call(addr, "GET", "/api/v1/groups/app", Value::Null).await;
    assert_eq!(
        still["partitions"][0]["committed_offset"], 2,
        "a dry run stores nothing"
    );
    let to_offset = json!({"to": "offset", "offset": 4, "partition": 0});
    json_call(
        addr,
        "POST",
        "/api/v1/groups/app/topics/work/reset",
        to_offset,
    )
    .await;
    let (_, moved) = json_call(addr, "GET", "/api/v1/groups/app", Value::Null).await;
    assert_eq!(moved["partitions"][0]["committed_offset"], 4);
    let bad = json!({"to": "offset"});
    let (status, _) = json_call(addr, "POST", "/api/v1/groups/app/topics/work/reset", bad).await;
    assert_eq!(status, 400);
    let (status, _) = call(addr, "DELETE", "/api/v1/groups/app?dry_run=true", None, "").await;
    assert_eq!(status, 200);
    let (status, _) = call(addr, "DELETE", "/api/v1/groups/app", None, "").await;
    assert_eq!(status, 200);
    let (status, gone) = json_call(addr, "GET", "/api/v1/groups/app", Value::Null).await;
    assert_eq!((status, gone["code"].as_str()), (404, Some("NOT_FOUND")));
}

/// Opens an SSE stream and collects `(id, data)` of the first `count` records events.
async fn sse_events(
    addr: SocketAddr,
    path: &str,
    last_event_id: Option<&str>,
    count: usize,
) -> Vec<(String, Value)> {
    let mut stream = connect(addr).await;
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n");
    if let Some(id) = last_event_id {
        request.push_str(&format!("Last-Event-ID: {id}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    loop {
        let events = parse_sse(&text);
        if events.len() >= count {
            return events;
        }
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("an event within 10 s")
            .expect("read");
        assert!(n > 0, "the stream ended early: {text}");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

fn parse_sse(text: &str) -> Vec<(String, Value)> {
    let mut events = Vec::new();
    let mut id = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("id: ") {
            id = rest.to_string();
        } else if let Some(rest) = line.strip_prefix("data: ") {
            events.push((id.clone(), parse(rest)));
        }
    }
    events
}

#[tokio::test]
async fn a_stream_follows_several_partitions_and_resumes_from_the_last_event_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, addr) = start(dir.path()).await;
    json_call(
        addr,
        "POST",
        "/api/v1/topics",
        json!({"name": "live", "partitions": 3}),
    )
    .await;
    produce_http(addr, "live", 0, 2, 1_000).await;
    produce_http(addr, "live", 1, 1, 1_000).await;
    produce_http(addr, "live", 2, 4, 1_000).await;
    let path = "/api/v1/topics/live/stream?partitions=0,1&start=earliest";
    let events = sse_events(addr, path, None, 2).await;
    let mut seen: Vec<_> = events
        .iter()
        .map(|(_, data)| {
            (
                data["partition"].as_u64(),
                data["records"].as_array().map(Vec::len),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![(Some(0), Some(2)), (Some(1), Some(1))],
        "partition 2 is not asked for"
    );
    let last_id = &events[1].0;
    assert_eq!(last_id, "0:2,1:1");
    // Resuming from an id that has partition 0 at 1: only its second record comes, and
    // partition 1's record, written after, arrives once produced.
    let resumed = tokio::spawn(async move { sse_events(addr, path, Some("0:1,1:1"), 2).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    produce_http(addr, "live", 1, 1, 2_000).await;
    let resumed = resumed.await.expect("join");
    let mut firsts: Vec<_> = resumed
        .iter()
        .map(|(_, d)| (d["partition"].as_u64(), d["records"][0]["offset"].as_u64()))
        .collect();
    firsts.sort();
    assert_eq!(firsts, vec![(Some(0), Some(1)), (Some(1), Some(1))]);
    let (status, _) = call(
        addr,
        "GET",
        "/api/v1/topics/live/stream?start=soon",
        None,
        "",
    )
    .await;
    assert_eq!(status, 400);
    let mut stream = connect(addr).await;
    let request = format!(
        "GET /api/v1/topics/live/stream HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nLast-Event-ID: junk\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, addr) = start(dir.path()).await;
    let (status, text) = call(addr, "GET", "/api/v1/openapi.json", None, "").await;
    assert_eq!(status, 200);
    let document = parse(&text);
    let paths = document["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/api/v1/topics", "post"),
        ("/api/v1/topics/{topic}", "patch"),
        ("/api/v1/topics/{topic}/records", "post"),
        (
            "/api/v1/topics/{topic}/partitions/{partition}/records",
            "get",
        ),
        ("/api/v1/topics/{topic}/stream", "get"),
        ("/api/v1/groups/{group}", "delete"),
        ("/api/v1/groups/{group}/topics/{topic}/offsets", "post"),
        ("/api/v1/groups/{group}/topics/{topic}/reset", "post"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path}"
        );
    }
    assert!(document["components"]["schemas"]["Encoded"].is_object());
}

#[tokio::test]
async fn the_console_is_served_with_a_policy_that_allows_only_its_own_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, addr) = start(dir.path()).await;
    let mut stream = connect(addr).await;
    let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    let (head, body) = answer.split_once("\r\n\r\n").expect("head and body");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(
        head.contains("content-security-policy: default-src 'self'; script-src 'self'"),
        "{head}"
    );
    assert!(head.contains("x-frame-options: DENY"), "{head}");
    assert!(body.contains(r#"<script src="/console.js""#), "{body}");
    let (status, script) = call(addr, "GET", "/console.js", None, "").await;
    assert_eq!(status, 200);
    assert!(
        script.contains("/api/v1"),
        "the console drives the JSON API"
    );
    let (status, _) = call(addr, "GET", "/console.css", None, "").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_single_node_describes_itself_as_no_cluster() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, addr) = start(dir.path()).await;
    let (status, text) = call(addr, "GET", "/api/v1/cluster", None, "").await;
    assert_eq!(status, 200);
    assert_eq!(
        parse(&text),
        json!({"node_id": 0, "nodes": [], "metadata_leader": null})
    );
}

#[tokio::test]
async fn a_group_with_a_member_is_described_with_its_assignment() {
    use eventlog::client::group_member::{GroupMember, MemberEvent, MemberOptions};
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, addr) = start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "shared", 2).await;
    let options = MemberOptions {
        group: "crew".into(),
        topics: vec!["shared".into()],
        instance_id: None,
        session_timeout: None,
        strategy: Default::default(),
        reset: Default::default(),
    };
    let mut member = GroupMember::join(&client, options).await.expect("join");
    // The first assignment arrives as an event; once it has, the group describes it.
    loop {
        let event = tokio::time::timeout(Duration::from_secs(30), member.next())
            .await
            .expect("an assignment within 30 s")
            .expect("member event");
        if matches!(event, MemberEvent::Assignment { .. }) {
            break;
        }
    }
    let (status, described) = json_call(addr, "GET", "/api/v1/groups/crew", Value::Null).await;
    assert_eq!(status, 200, "{described}");
    let members = described["members"].as_array().expect("members");
    assert_eq!(members.len(), 1, "{described}");
    assert_eq!(
        members[0]["assigned"],
        json!([{"topic": "shared", "partition": 0}, {"topic": "shared", "partition": 1}])
    );
    assert!(described["generation"].as_u64() >= Some(1), "{described}");
    assert_eq!(described["partitions"].as_array().map(Vec::len), Some(2));
}
