//! Bearer tokens with roles: missing and unknown tokens are UNAUTHENTICATED, a token
//! without the role an RPC needs is PERMISSION_DENIED, admin may do everything, and
//! health stays open. The token file's errors name the line, and the CLI takes the
//! token from `--token` or `EVENTLOG_TOKEN`; the server never logs it.

use crate::common;
use crate::security_support;

use std::process::{Command, Output};

use common::{BinaryServer, TestServer, commit, create_topic, fetch_all, produce, record};
use eventlog::client::Client;
use eventlog::proto::v1 as pb;
use eventlog::service::ServerConfig;
use eventlog::service::tokens::TokenTable;
use security_support::{
    ADMIN_TOKEN, CONSUMER_TOKEN, PRODUCER_TOKEN, connect, with_token, write_tokens,
};
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

async fn auth_server(dir: &std::path::Path) -> TestServer {
    let tokens = TokenTable::load(&write_tokens(dir)).expect("token file");
    let config = ServerConfig {
        auth: Some(tokens),
        ..ServerConfig::default()
    };
    TestServer::start_with(&dir.join("data"), config).await
}

fn create_request(name: &str) -> pb::CreateTopicRequest {
    pb::CreateTopicRequest {
        name: name.to_string(),
        partitions: 1,
        replication_factor: 0,
        config: None,
    }
}

fn produce_request(topic: &str) -> pb::ProduceRequest {
    pb::ProduceRequest {
        topic: topic.to_string(),
        partition: Some(0),
        records: vec![record(None, Some("v"))],
        expected_next_offset: None,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_and_unknown_tokens_are_unauthenticated() {
    let dir = tempfile::tempdir().unwrap();
    let server = auth_server(dir.path()).await;
    let mut admin = connect(&server.url(), &with_token(ADMIN_TOKEN)).await;
    create_topic(&mut admin, "t", 1).await;

    let mut anonymous = Client::connect(&server.url()).await.unwrap();
    let status = anonymous
        .event_log
        .produce(produce_request("t"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(
        status.message().contains("eventlog.v1.EventLog/Produce"),
        "{status:?}"
    );

    let wrong = "admin-4f1c9a2e7b5d8c31";
    let mut impostor = Client::connect_with(&server.url(), &with_token(wrong))
        .await
        .unwrap();
    let status = impostor
        .admin
        .list_topics(pb::ListTopicsRequest {})
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(
        status.message().contains("eventlog.v1.Admin/ListTopics"),
        "{status:?}"
    );
    assert!(!status.message().contains(wrong), "{status:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_decide_what_a_token_may_do() {
    let dir = tempfile::tempdir().unwrap();
    let server = auth_server(dir.path()).await;
    let mut admin = connect(&server.url(), &with_token(ADMIN_TOKEN)).await;
    let mut producer = connect(&server.url(), &with_token(PRODUCER_TOKEN)).await;
    let mut consumer = connect(&server.url(), &with_token(CONSUMER_TOKEN)).await;

    // A producer may not create topics; the message names the RPC and the role.
    let status = producer
        .admin
        .create_topic(create_request("orders"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains("Admin/CreateTopic"), "{status:?}");
    assert!(status.message().contains("admin role"), "{status:?}");

    create_topic(&mut admin, "orders", 1).await;

    // A consumer may not produce; a producer may, and may read metadata.
    let status = consumer
        .event_log
        .produce(produce_request("orders"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains("producer role"), "{status:?}");
    produce(
        &mut producer,
        "orders",
        Some(0),
        vec![record(None, Some("a"))],
    )
    .await;
    producer
        .admin
        .describe_topic(pb::DescribeTopicRequest {
            name: "orders".into(),
        })
        .await
        .expect("metadata is open to every role");

    // A producer may not read; a consumer may read and keep group offsets.
    let status = producer
        .event_log
        .fetch(pb::FetchRequest {
            topic: "orders".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(fetch_all(&mut consumer, "orders", 0, 0).await.len(), 1);
    commit(&mut consumer, "g", "orders", &[(0, 1)])
        .await
        .expect("a consumer commits offsets");
    let status = consumer
        .admin
        .delete_group(pb::DeleteGroupRequest {
            group: "g".into(),
            dry_run: false,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    // Admin may do everything.
    produce(&mut admin, "orders", Some(0), vec![record(None, Some("b"))]).await;
    assert_eq!(fetch_all(&mut admin, "orders", 0, 0).await.len(), 2);
    admin
        .admin
        .delete_group(pb::DeleteGroupRequest {
            group: "g".into(),
            dry_run: false,
        })
        .await
        .expect("admin deletes a group");
    admin
        .admin
        .delete_topic(pb::DeleteTopicRequest {
            name: "orders".into(),
        })
        .await
        .expect("admin deletes a topic");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_open_and_reflection_needs_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = auth_server(dir.path()).await;
    connect(&server.url(), &with_token(ADMIN_TOKEN)).await;
    let channel = tonic::transport::Endpoint::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let reply = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: "eventlog.v1.EventLog".into(),
        })
        .await
        .expect("health needs no token")
        .into_inner();
    assert_eq!(
        reply.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    use tonic_reflection::pb::v1;
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let status = v1::server_reflection_client::ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    server.stop().await;
}

#[test]
fn a_bad_role_in_the_token_file_stops_the_start_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    let secret = "very-secret-token-0123456789";
    std::fs::write(&tokens, format!("{ADMIN_TOKEN}\n# c\n{secret} superuser\n")).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_eventlog"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--auth-token-file")
        .arg(&tokens)
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("error: token file"), "{stderr}");
    assert!(lines[0].contains("line 3"), "{stderr}");
    assert!(lines[0].contains("unknown role \"superuser\""), "{stderr}");
    assert!(!stderr.contains(secret), "{stderr}");
}

fn cli(server: &BinaryServer, args: &[&str], token_env: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_eventlog"));
    command
        .args(args)
        .env("EVENTLOG_SERVER", &server.url)
        .env_remove("EVENTLOG_TOKEN")
        .env_remove("RUST_LOG");
    if let Some(token) = token_env {
        command.env("EVENTLOG_TOKEN", token);
    }
    command.output().expect("run eventlog")
}

#[test]
fn the_cli_sends_the_token_and_the_server_never_logs_it() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = write_tokens(dir.path());
    let server = BinaryServer::start_with(
        &dir.path().join("data"),
        &["--auth-token-file", tokens.to_str().unwrap()],
        "debug",
    );

    let created = cli(
        &server,
        &["topic", "create", "events", "--token", ADMIN_TOKEN],
        None,
    );
    assert!(created.status.success(), "{created:?}");
    let produced = cli(
        &server,
        &["produce", "events", "hello"],
        Some(PRODUCER_TOKEN),
    );
    assert!(produced.status.success(), "{produced:?}");
    let consumed = cli(
        &server,
        &[
            "consume", "events", "--from", "earliest", "--format", "json",
        ],
        Some(CONSUMER_TOKEN),
    );
    assert!(consumed.status.success(), "{consumed:?}");
    assert!(String::from_utf8_lossy(&consumed.stdout).contains("hello"));

    let refused = cli(&server, &["topic", "list"], None);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains("UNAUTHENTICATED"), "{stderr}");

    let denied = cli(&server, &["produce", "events", "x"], Some(CONSUMER_TOKEN));
    assert!(!denied.status.success());
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("PERMISSION_DENIED"), "{stderr}");

    let log = server.stop_and_read_log();
    // The debug log recorded the refused call (so it could have leaked) but no token.
    assert!(log.contains("rejected a request lacking the role"), "{log}");
    for token in [ADMIN_TOKEN, PRODUCER_TOKEN, CONSUMER_TOKEN] {
        assert!(!log.contains(token), "the server log holds a token");
    }
}
