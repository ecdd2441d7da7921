//! SASL/PLAIN with real clients: confluent-kafka (librdkafka), kafka-python and kcat
//! authenticate with the server's tokens over `SASL_PLAINTEXT` on loopback. The
//! right token produces and consumes, a wrong one is refused, a read-only token
//! cannot produce, and a client without SASL gets nothing. With the server's TLS
//! certificate the listener speaks TLS (`SASL_SSL`), and may then listen beyond
//! loopback. Protocol-level checks are in `kafka_sasl.rs`.

use crate::common;
use crate::kafka_support;
use crate::security_support;

use common::{create_topic, fetch_all};
use eventlog::client::{Client, ConnectOptions};
use eventlog::service::tokens::TokenTable;
use kafka_support::clients::{kcat, python_script, run, run_json};
use kafka_support::start_with;

const ADMIN: &str = "admin-token-0123456789";
const WRITER: &str = "writer-token-0123456789";
const READER: &str = "reader-token-0123456789";
const WRONG: &str = "wrong-token-0123456789";

async fn start(dir: &std::path::Path) -> (common::TestServer, String, Client) {
    let tokens = TokenTable::parse(&format!(
        "{ADMIN} admin\n{WRITER} producer\n{WRITER} consumer\n{READER} consumer\n"
    ))
    .expect("tokens");
    let (server, addr) = start_with(dir, |config| config.auth = Some(tokens)).await;
    let options = ConnectOptions {
        token: Some(ADMIN.into()),
        ..Default::default()
    };
    let client = Client::connect_with(&server.url(), &options)
        .await
        .expect("client");
    (server, addr.to_string(), client)
}

fn sasl_kcat(bootstrap: &str, token: &str, args: &[&str]) -> std::process::Command {
    let mut command = kcat();
    command
        .args(["-b", bootstrap])
        .args(["-X", "security.protocol=sasl_plaintext"])
        .args(["-X", "sasl.mechanisms=PLAIN"])
        .args(["-X", "sasl.username=any-user"])
        .args(["-X", &format!("sasl.password={token}")])
        .args(args);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_kafka_and_kafka_python_authenticate_with_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, bootstrap, mut client) = start(dir.path()).await;
    create_topic(&mut client, "secured", 1).await;

    let mut command = python_script("admin_auth.py");
    command.args([
        "sasl_confluent",
        &bootstrap,
        "secured",
        WRITER,
        READER,
        WRONG,
    ]);
    let result = run_json(command).await;
    assert_eq!(result["writer_errors"], serde_json::json!([]), "{result}");
    let read: Vec<String> = (0..10).map(|i| format!("v{i}")).collect();
    assert_eq!(result["read"], serde_json::json!(read), "{result}");
    assert!(
        result["wrong_token_errors"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e == "_AUTHENTICATION")),
        "{result}"
    );
    assert_eq!(
        result["reader_produce_errors"],
        serde_json::json!(["TOPIC_AUTHORIZATION_FAILED"]),
        "{result}"
    );

    let mut command = python_script("admin_auth.py");
    command.args(["sasl_kafka_python", &bootstrap, "secured", WRITER, WRONG]);
    let result = run_json(command).await;
    assert_eq!(
        result["offsets"],
        serde_json::json!([10, 11, 12]),
        "{result}"
    );
    assert!(result["wrong_token_error"].is_string(), "{result}");

    // Exactly what the allowed producers sent is stored.
    assert_eq!(fetch_all(&mut client, "secured", 0, 0).await.len(), 13);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_produces_and_consumes_with_a_token_and_is_refused_without_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, bootstrap, mut client) = start(dir.path()).await;
    create_topic(&mut client, "kcat-secured", 1).await;

    let produce = sasl_kcat(&bootstrap, WRITER, &["-P", "-t", "kcat-secured", "-p", "0"]);
    let output = run(produce, b"one\ntwo\nthree\n".to_vec()).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let consume = sasl_kcat(
        &bootstrap,
        READER,
        &["-C", "-t", "kcat-secured", "-o", "beginning", "-e", "-q"],
    );
    let output = run(consume, Vec::new()).await;
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "one\ntwo\nthree\n");

    // A wrong token, a read-only token producing, and no SASL at all: refused.
    let wrong = sasl_kcat(&bootstrap, WRONG, &["-L", "-m", "3"]);
    let output = run(wrong, Vec::new()).await;
    assert!(!output.status.success(), "{output:?}");
    let reader = sasl_kcat(
        &bootstrap,
        READER,
        &[
            "-P",
            "-t",
            "kcat-secured",
            "-p",
            "0",
            "-X",
            "message.timeout.ms=5000",
        ],
    );
    let output = run(reader, b"not allowed\n".to_vec()).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("authorization failed") || stderr.contains("TOPIC_AUTHORIZATION"),
        "{stderr}"
    );
    let mut plain = kcat();
    plain.args(["-b", &bootstrap, "-L", "-m", "5"]);
    let output = run(plain, Vec::new()).await;
    assert!(!output.status.success(), "{output:?}");

    assert_eq!(fetch_all(&mut client, "kcat-secured", 0, 0).await.len(), 3);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_ssl_carries_the_token_over_tls_beyond_loopback() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = security_support::pki();
    let tls = eventlog::service::tls::ServerTls::load(&pki.server_cert, &pki.server_key, None)
        .expect("tls");
    let tokens = TokenTable::parse(&format!(
        "{ADMIN} admin\n{WRITER} producer\n{WRITER} consumer\n"
    ))
    .expect("tokens");
    let port = kafka_support::free_addr().port();
    let bootstrap = format!("127.0.0.1:{port}");
    let (server, _) = start_with(dir.path(), |config| {
        config.auth = Some(tokens);
        config.tls = Some(tls);
        // Every interface: allowed, since the token travels over TLS.
        let mut kafka = eventlog::kafka::KafkaConfig::new(([0, 0, 0, 0], port).into());
        kafka.advertised = Some(bootstrap.clone());
        config.kafka = Some(kafka);
    })
    .await;
    let options = ConnectOptions {
        token: Some(ADMIN.into()),
        tls_ca: Some(std::fs::read(&pki.ca).expect("ca")),
        ..Default::default()
    };
    let mut client = Client::connect_with(&server.url(), &options)
        .await
        .expect("client");
    create_topic(&mut client, "over-tls", 1).await;

    let mut command = python_script("admin_auth.py");
    let ca = pki.ca.to_str().expect("path");
    command.args(["sasl_ssl_confluent", &bootstrap, "over-tls", WRITER, ca]);
    let result = run_json(command).await;
    assert_eq!(result["errors"], serde_json::json!([]), "{result}");
    let read: Vec<String> = (0..5).map(|i| format!("tls{i}")).collect();
    assert_eq!(result["read"], serde_json::json!(read), "{result}");

    // A client speaking plaintext SASL to the TLS port gets nowhere.
    let plain = sasl_kcat(&bootstrap, WRITER, &["-L", "-m", "3"]);
    let output = run(plain, Vec::new()).await;
    assert!(!output.status.success(), "{output:?}");
    assert_eq!(fetch_all(&mut client, "over-tls", 0, 0).await.len(), 5);
    server.stop().await;
}
