//! TLS on the gRPC port with certificates generated for the test: a client trusting
//! the CA works end to end, plaintext and untrusting clients fail, mutual TLS rejects
//! clients without a certificate signed by the client CA, and bad PEM files stop the
//! start with a message naming the file.

use crate::common;
use crate::security_support;

use std::process::Command;

use common::{TestServer, create_topic, fetch_all, produce, record, value_text};
use eventlog::client::{Client, ConnectError, ConnectOptions};
use eventlog::proto::v1 as pb;
use eventlog::service::ServerConfig;
use eventlog::service::tls::{ServerTls, TlsFileError};
use security_support::{Pki, connect, pki};

async fn tls_server(dir: &std::path::Path, pki: &Pki, mutual: bool) -> TestServer {
    let client_ca = mutual.then_some(pki.ca.as_path());
    let tls = ServerTls::load(&pki.server_cert, &pki.server_key, client_ca).expect("load TLS");
    let config = ServerConfig {
        tls: Some(tls),
        ..ServerConfig::default()
    };
    TestServer::start_with(dir, config).await
}

/// Whether a client built with `options` can list topics (connection or RPC fails).
async fn can_list_topics(url: &str, options: &ConnectOptions) -> Result<(), String> {
    let mut client = Client::connect_with(url, options)
        .await
        .map_err(|e| e.to_string())?;
    client
        .admin
        .list_topics(pb::ListTopicsRequest {})
        .await
        .map(drop)
        .map_err(|status| status.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trusting_the_ca_produces_and_fetches_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki();
    let server = tls_server(dir.path(), &pki, false).await;
    assert!(server.url().starts_with("https://"));

    let mut client = connect(&server.url(), &pki.options(None)).await;
    create_topic(&mut client, "secure", 1).await;
    produce(
        &mut client,
        "secure",
        Some(0),
        vec![record(None, Some("one")), record(None, Some("two"))],
    )
    .await;
    let records = fetch_all(&mut client, "secure", 0, 0).await;
    let values: Vec<String> = records.iter().map(value_text).collect();
    assert_eq!(values, ["one", "two"]);

    // The same name also verifies when the client is told it explicitly.
    let named = ConnectOptions {
        tls_server_name: Some("localhost".into()),
        ..pki.options(None)
    };
    can_list_topics(&server.url(), &named).await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_and_untrusting_clients_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki();
    let server = tls_server(dir.path(), &pki, false).await;
    connect(&server.url(), &pki.options(None)).await;

    let plain_url = server.url().replacen("https://", "http://", 1);
    let plain = can_list_topics(&plain_url, &ConnectOptions::default()).await;
    assert!(plain.is_err(), "a plaintext client was served");

    // Trusting another CA (the stranger's certificate as root) fails verification.
    let wrong_ca = ConnectOptions {
        tls_ca: Some(std::fs::read(&pki.stranger_cert).unwrap()),
        ..ConnectOptions::default()
    };
    let err = can_list_topics(&server.url(), &wrong_ca)
        .await
        .expect_err("a client trusting another CA was served");
    assert!(err.contains("certificate"), "{err}");

    // A name the certificate does not carry fails verification too.
    let wrong_name = ConnectOptions {
        tls_server_name: Some("elsewhere.test".into()),
        ..pki.options(None)
    };
    assert!(can_list_topics(&server.url(), &wrong_name).await.is_err());

    // https:// without a CA, and TLS options with http://, are refused before connecting.
    let no_ca = Client::connect_with(&server.url(), &ConnectOptions::default()).await;
    assert!(
        matches!(no_ca, Err(ConnectError::Tls { .. })),
        "{:?}",
        no_ca.err()
    );
    let mixed = Client::connect_with(&plain_url, &pki.options(None)).await;
    assert!(
        matches!(mixed, Err(ConnectError::Tls { .. })),
        "{:?}",
        mixed.err()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_requires_a_client_certificate_signed_by_the_client_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki();
    let server = tls_server(dir.path(), &pki, true).await;

    let mut client = connect(
        &server.url(),
        &pki.options(Some((&pki.client_cert, &pki.client_key))),
    )
    .await;
    create_topic(&mut client, "mutual", 1).await;
    produce(
        &mut client,
        "mutual",
        Some(0),
        vec![record(None, Some("x"))],
    )
    .await;
    assert_eq!(fetch_all(&mut client, "mutual", 0, 0).await.len(), 1);

    let anonymous = can_list_topics(&server.url(), &pki.options(None)).await;
    assert!(
        anonymous.is_err(),
        "a client without a certificate was served"
    );
    let stranger = pki.options(Some((&pki.stranger_cert, &pki.stranger_key)));
    let stranger = can_list_topics(&server.url(), &stranger).await;
    assert!(
        stranger.is_err(),
        "a client certificate of another CA was accepted"
    );
    server.stop().await;
}

#[test]
fn bad_pem_files_are_errors_naming_the_file() {
    let pki = pki();
    let garbage = pki.dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let missing = pki.dir.path().join("missing.pem");

    let err = ServerTls::load(&garbage, &pki.server_key, None).unwrap_err();
    assert!(matches!(err, TlsFileError::Invalid { .. }), "{err}");
    assert!(err.to_string().contains("garbage.pem"), "{err}");

    let err = ServerTls::load(&pki.server_cert, &missing, None).unwrap_err();
    assert!(matches!(err, TlsFileError::Read { .. }), "{err}");
    assert!(err.to_string().contains("missing.pem"), "{err}");

    // A certificate where the key belongs is named as an invalid key.
    let err = ServerTls::load(&pki.server_cert, &pki.server_cert, None).unwrap_err();
    assert!(err.to_string().contains("TLS key"), "{err}");

    let err = ServerTls::load(&pki.server_cert, &pki.client_key, None).unwrap_err();
    assert!(matches!(err, TlsFileError::Mismatch { .. }), "{err}");

    let err = ServerTls::load(&pki.server_cert, &pki.server_key, Some(&garbage)).unwrap_err();
    assert!(err.to_string().contains("client CA"), "{err}");
}

#[test]
fn the_binary_refuses_to_start_with_an_invalid_certificate() {
    let pki = pki();
    let data = tempfile::tempdir().unwrap();
    let garbage = pki.dir.path().join("garbage.pem");
    std::fs::write(&garbage, "-----BEGIN CERTIFICATE-----\n!!!\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_eventlog"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .arg("--tls-cert")
        .arg(&garbage)
        .arg("--tls-key")
        .arg(&pki.server_key)
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with("error: invalid TLS certificate"),
        "{stderr}"
    );
    assert!(lines[0].contains("garbage.pem"), "{stderr}");
}
