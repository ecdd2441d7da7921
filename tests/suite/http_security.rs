//! The HTTP API's security: tokens and roles exactly as on gRPC (Bearer header for
//! tools, an HttpOnly SameSite=Strict cookie for the console), cross-site requests
//! refused even with the cookie, and TLS with the gRPC port's certificate.

use crate::common;
use crate::security_support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::TestServer;
use eventlog::service::ServerConfig;
use eventlog::service::tls::ServerTls;
use eventlog::service::tokens::TokenTable;
use security_support::{ADMIN_TOKEN, CONSUMER_TOKEN, PRODUCER_TOKEN, pki, write_tokens};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

fn free_addr() -> SocketAddr {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe");
    probe.local_addr().expect("addr")
}

async fn connect(addr: SocketAddr) -> TcpStream {
    for _ in 0..100 {
        if let Ok(stream) = TcpStream::connect(addr).await {
            return stream;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("cannot connect to {addr}");
}

/// One request with extra header lines; returns the status, the head and the body.
async fn exchange(
    stream: impl AsyncRead + AsyncWrite + Unpin,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut stream = stream;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        request.push_str("Content-Type: application/json\r\n");
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    // A TLS peer may close without close_notify; what arrived is what counts.
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8(answer).expect("utf-8");
    let (head, body) = answer.split_once("\r\n\r\n").expect("head and body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, head.to_string(), body.to_string())
}

async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    exchange(connect(addr).await, addr, method, path, headers, body).await
}

fn code(body: &str) -> Value {
    serde_json::from_str::<Value>(body).map_or(Value::Null, |v| v["code"].clone())
}

async fn start_with_tokens(dir: &std::path::Path) -> (TestServer, SocketAddr) {
    let addr = free_addr();
    let tokens = TokenTable::load(&write_tokens(dir)).expect("tokens");
    let data = dir.join("data");
    let config = ServerConfig {
        http: Some(addr),
        auth: Some(tokens),
        ..ServerConfig::default()
    };
    (TestServer::start_with(&data, config).await, addr)
}

#[tokio::test]
async fn bearer_tokens_get_the_roles_they_have_on_grpc() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, addr) = start_with_tokens(dir.path()).await;
    let bearer = |token: &str| format!("Bearer {token}");
    let (admin, producer, consumer) = (
        bearer(ADMIN_TOKEN),
        bearer(PRODUCER_TOKEN),
        bearer(CONSUMER_TOKEN),
    );
    let (status, _, body) = call(addr, "GET", "/api/v1/topics", &[], "").await;
    assert_eq!((status, code(&body)), (401, json!("UNAUTHENTICATED")));
    let wrong = [("Authorization", "Bearer not-a-token")];
    let (status, _, _) = call(addr, "GET", "/api/v1/topics", &wrong, "").await;
    assert_eq!(status, 401);
    let create = r#"{"name":"t"}"#;
    let as_consumer = [("Authorization", consumer.as_str())];
    let (status, _, body) = call(addr, "POST", "/api/v1/topics", &as_consumer, create).await;
    assert_eq!((status, code(&body)), (403, json!("PERMISSION_DENIED")));
    let as_admin = [("Authorization", admin.as_str())];
    let (status, _, _) = call(addr, "POST", "/api/v1/topics", &as_admin, create).await;
    assert_eq!(status, 201);
    let as_producer = [("Authorization", producer.as_str())];
    let records = r#"{"records":[{"value":{"encoding":"text","data":"x"}}]}"#;
    let (status, _, _) = call(
        addr,
        "POST",
        "/api/v1/topics/t/records",
        &as_producer,
        records,
    )
    .await;
    assert_eq!(status, 200);
    let read = "/api/v1/topics/t/partitions/0/records";
    let (status, _, _) = call(addr, "GET", read, &as_producer, "").await;
    assert_eq!(status, 403, "a producer may not read");
    let (status, _, body) = call(addr, "GET", read, &as_consumer, "").await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = call(addr, "GET", "/api/v1/topics", &as_producer, "").await;
    assert_eq!(status, 200, "metadata is open to every role");
    let (status, _, _) = call(addr, "DELETE", "/api/v1/topics/t", &as_consumer, "").await;
    assert_eq!(status, 403);
    let (status, _, _) = call(addr, "GET", "/api/v1/openapi.json", &[], "").await;
    assert_eq!(status, 200, "the API's description needs no token");
}

#[tokio::test]
async fn a_scoped_token_sees_and_names_only_its_topics_and_groups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = free_addr();
    let path = dir.path().join("scoped-tokens");
    let scoped = "scoped-token-5e1d7c9a3b";
    std::fs::write(
        &path,
        format!("{ADMIN_TOKEN}\n{scoped} admin topic=app. group=app-\n"),
    )
    .expect("token file");
    let config = ServerConfig {
        http: Some(addr),
        auth: Some(TokenTable::load(&path).expect("tokens")),
        ..ServerConfig::default()
    };
    let _server = TestServer::start_with(&dir.path().join("data"), config).await;
    let admin = format!("Bearer {ADMIN_TOKEN}");
    let as_admin = [("Authorization", admin.as_str())];
    for name in ["app.orders", "other"] {
        let body = format!(r#"{{"name":"{name}"}}"#);
        let (status, _, _) = call(addr, "POST", "/api/v1/topics", &as_admin, &body).await;
        assert_eq!(status, 201);
    }
    let bearer = format!("Bearer {scoped}");
    let as_scoped = [("Authorization", bearer.as_str())];
    let (_, _, body) = call(addr, "GET", "/api/v1/topics", &as_scoped, "").await;
    let names: Vec<Value> = serde_json::from_str::<Value>(&body)
        .expect("json")
        .as_array()
        .expect("list")
        .iter()
        .map(|t| t["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("app.orders")], "the listing is filtered");
    let (status, _, body) = call(addr, "DELETE", "/api/v1/topics/other", &as_scoped, "").await;
    assert_eq!((status, code(&body)), (403, json!("PERMISSION_DENIED")));
    let (status, _, _) = call(addr, "GET", "/api/v1/groups/billing", &as_scoped, "").await;
    assert_eq!(status, 403, "a group outside the scope");
    let (status, _, _) = call(addr, "GET", "/api/v1/topics/other/stream", &as_scoped, "").await;
    assert_eq!(status, 403, "a stream of a topic outside the scope");
}

#[tokio::test]
async fn the_console_session_is_an_http_only_strict_cookie_refused_cross_site() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, addr) = start_with_tokens(dir.path()).await;
    let (status, _, body) = call(addr, "GET", "/api/v1/session", &[], "").await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json"),
        json!({"auth_required": true, "authenticated": false})
    );
    let bad = r#"{"token":"guess"}"#;
    let (status, _, _) = call(addr, "POST", "/api/v1/session", &[], bad).await;
    assert_eq!(status, 401);
    let good = format!(r#"{{"token":"{ADMIN_TOKEN}"}}"#);
    let (status, head, _) = call(addr, "POST", "/api/v1/session", &[], &good).await;
    assert_eq!(status, 204);
    let set_cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .expect("a cookie is set");
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"));
    assert!(!set_cookie.contains(ADMIN_TOKEN), "not the token in clear");
    let cookie = set_cookie
        .split(';')
        .next()
        .expect("name=value")
        .to_string();
    let with_cookie = [("Cookie", cookie.as_str())];
    let (status, _, _) = call(addr, "GET", "/api/v1/topics", &with_cookie, "").await;
    assert_eq!(status, 200);
    let own = format!("http://{addr}");
    let same_site = [("Cookie", cookie.as_str()), ("Origin", own.as_str())];
    let create = r#"{"name":"c"}"#;
    let (status, _, _) = call(addr, "POST", "/api/v1/topics", &same_site, create).await;
    assert_eq!(status, 201);
    let cross_site = [
        ("Cookie", cookie.as_str()),
        ("Origin", "https://evil.example"),
    ];
    let (status, _, _) = call(addr, "DELETE", "/api/v1/topics/c", &cross_site, "").await;
    assert_eq!(
        status, 403,
        "the cookie does not carry a foreign site's request"
    );
    let (status, _, _) = call(addr, "GET", "/api/v1/topics/c", &with_cookie, "").await;
    assert_eq!(status, 200, "the topic is still there");
    let (status, head, _) = call(addr, "DELETE", "/api/v1/session", &with_cookie, "").await;
    assert_eq!(status, 204);
    assert!(head.contains("Max-Age=0"), "{head}");
}

#[tokio::test]
async fn the_http_listener_speaks_tls_with_the_grpc_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki();
    let addr = free_addr();
    let tls = ServerTls::load(&pki.server_cert, &pki.server_key, None).expect("load TLS");
    let config = ServerConfig {
        http: Some(addr),
        tls: Some(tls),
        ..ServerConfig::default()
    };
    let _server = TestServer::start_with(dir.path(), config).await;
    let mut plain = connect(addr).await;
    let request = format!("GET /api/v1/topics HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    plain.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut answer)).await;
    assert!(
        !answer.starts_with(b"HTTP/1.1 200"),
        "plain HTTP gets no API answer"
    );
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    let ca = std::fs::read(&pki.ca).expect("ca");
    for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(&ca) {
        let cert: rustls_pki_types::CertificateDer = cert.expect("ca pem");
        roots.add(cert).expect("add ca");
    }
    let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    let tls = connector
        .connect(name, connect(addr).await)
        .await
        .expect("TLS handshake");
    let (status, _, body) = exchange(tls, addr, "GET", "/api/v1/topics", &[], "").await;
    assert_eq!((status, body.as_str()), (200, "[]"));
}
