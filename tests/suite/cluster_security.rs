//! A three-node cluster with TLS and tokens on every port: nodes reach each other
//! over TLS with a `node` token, clients over TLS with their own tokens, and the
//! node-to-node services refuse everyone else (an admin token included).

use crate::cluster_support;
use crate::security_support;

use std::time::{Duration, Instant};

use cluster_support::TestCluster;
use eventlog::client::ConnectOptions;
use eventlog::proto::cluster::RaftMessage;
use eventlog::proto::cluster::raft_transport_client::RaftTransportClient;
use eventlog::proto::v1 as pb;
use security_support::{ADMIN_TOKEN, pki};
use tonic::Code;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

const NODE_TOKEN: &str = "node-7e3a91c54d2b8f06";
const TOPIC: &str = "audit";

/// A Raft vote on node `port`'s transport, with `token`.
async fn vote_with(ca: &[u8], port: u16, token: Option<&str>) -> tonic::Status {
    let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
    let channel = Endpoint::from_shared(format!("https://127.0.0.1:{port}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .expect("TLS connection to a node");
    let mut request = tonic::Request::new(RaftMessage {
        group: "meta".into(),
        body: b"{}".to_vec().into(),
    });
    if let Some(token) = token {
        let value = format!("Bearer {token}").parse().unwrap();
        request.metadata_mut().insert("authorization", value);
    }
    let reply = RaftTransportClient::new(channel).vote(request).await;
    reply.expect_err("a vote from outside the cluster")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_talk_over_tls_with_node_tokens_and_refuse_everyone_else() {
    let pki = pki();
    let tokens = pki.dir.path().join("tokens");
    std::fs::write(&tokens, format!("{ADMIN_TOKEN} admin\n{NODE_TOKEN} node\n")).unwrap();
    let node_token = pki.dir.path().join("node-token");
    std::fs::write(&node_token, format!("# this node's token\n{NODE_TOKEN}\n")).unwrap();
    let args = [
        "--tls-cert",
        pki.server_cert.to_str().unwrap(),
        "--tls-key",
        pki.server_key.to_str().unwrap(),
        "--cluster-ca",
        pki.ca.to_str().unwrap(),
        "--auth-token-file",
        tokens.to_str().unwrap(),
        "--cluster-token-file",
        node_token.to_str().unwrap(),
    ];
    let options = ConnectOptions {
        token: Some(ADMIN_TOKEN.into()),
        ..pki.options(None)
    };
    let cluster = TestCluster::start_secured(3, &args, options);

    // The cluster forms and replicates: every node-to-node call passed TLS and tokens.
    cluster.create_topic(1, TOPIC, 1, 3).await;
    cluster.produce_each(2, TOPIC, 1, 5).await;
    let mut reader = cluster.client_of(3).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let fetched = reader
            .event_log
            .fetch(pb::FetchRequest {
                topic: TOPIC.into(),
                partition: 0,
                offset: 0,
                ..Default::default()
            })
            .await
            .expect("fetch through node 3")
            .into_inner();
        if fetched.records.len() == 5 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node 3 serves {} of 5 records",
            fetched.records.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Node-to-node services take only the node role: not an admin, not no token.
    let ca = std::fs::read(&pki.ca).unwrap();
    let port = cluster.nodes[0].port;
    let admin = vote_with(&ca, port, Some(ADMIN_TOKEN)).await;
    assert_eq!(admin.code(), Code::PermissionDenied, "{admin}");
    let anonymous = vote_with(&ca, port, None).await;
    assert_eq!(anonymous.code(), Code::Unauthenticated, "{anonymous}");

    // And the node token opens nothing else.
    let node_options = ConnectOptions {
        token: Some(NODE_TOKEN.into()),
        ..pki.options(None)
    };
    let mut as_node =
        eventlog::client::Client::connect_with(&cluster.nodes[0].url(), &node_options)
            .await
            .unwrap();
    let refused = as_node
        .admin
        .delete_topic(pb::DeleteTopicRequest { name: TOPIC.into() })
        .await
        .expect_err("a node token deleting a topic");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused}");
}

#[test]
fn a_cluster_node_with_tls_or_tokens_needs_its_peer_settings() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let tokens = pki.dir.path().join("tokens");
    std::fs::write(&tokens, format!("{ADMIN_TOKEN}\n")).unwrap();
    let serve = |extra: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_eventlog"))
            .args(["serve", "--data-dir", dir.path().to_str().unwrap()])
            .args(["--listen", "127.0.0.1:0", "--node-id", "1"])
            .args(["--cluster", "1=127.0.0.1:1"])
            .args(extra)
            .output()
            .unwrap();
        assert!(!output.status.success(), "serve started with {extra:?}");
        String::from_utf8_lossy(&output.stderr).to_string()
    };
    let cert = pki.server_cert.to_str().unwrap();
    let key = pki.server_key.to_str().unwrap();
    let no_ca = serve(&["--tls-cert", cert, "--tls-key", key]);
    assert!(no_ca.contains("--cluster-ca"), "{no_ca}");
    let no_token = serve(&["--auth-token-file", tokens.to_str().unwrap()]);
    assert!(no_token.contains("--cluster-token-file"), "{no_token}");
}
