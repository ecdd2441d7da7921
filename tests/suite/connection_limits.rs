//! Caps on open connections: the connection beyond `max_connections`, or beyond
//! `max_connections_per_ip` from one address, is refused at accept with a status naming
//! the limit, while the connections already open keep working; a closed connection
//! frees its place.

use crate::cleanup_support;
use crate::common;

use std::net::IpAddr;

use cleanup_support::wait_for;
use common::{TestServer, create_topic, produce, record};
use eventlog::client::Client;
use eventlog::service::ServerConfig;
use eventlog::service::connection_limits::ConnectionLimits;
use tonic::Code;
use tonic::transport::Endpoint;

async fn limited_server(dir: &std::path::Path, total: u32, per_ip: u32) -> TestServer {
    let config = ServerConfig {
        connection_limits: ConnectionLimits {
            max_connections: total,
            max_connections_per_ip: per_ip,
        },
        ..ServerConfig::default()
    };
    TestServer::start_with(dir, config).await
}

/// A client on its own connection from `from`, which has made one call (so the
/// connection is open on the server's side), or the status of that call.
async fn connect_from(server: &TestServer, from: &str) -> Result<Client, tonic::Status> {
    let ip: IpAddr = from.parse().unwrap();
    let endpoint = Endpoint::from_shared(server.url())
        .unwrap()
        .local_address(Some(ip));
    let channel = endpoint
        .connect()
        .await
        .map_err(|error| tonic::Status::unavailable(format!("connect: {error:?}")))?;
    let mut client = Client::from_channel(channel);
    client
        .admin
        .list_topics(eventlog::proto::v1::ListTopicsRequest {})
        .await?;
    Ok(client)
}

/// The refusal's GOAWAY code is the status code; its text (the GOAWAY's debug data)
/// is in the status's source.
fn assert_refused(status: &tonic::Status, limit: &str) {
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let details = format!("{status:?}");
    assert!(details.contains(limit), "{details}");
    assert!(details.contains("too many connections"), "{details}");
}

/// `n` clients from 127.0.0.1, all admitted, and the topic `t`.
async fn fill(server: &TestServer, n: usize) -> Vec<Client> {
    let mut open = Vec::new();
    for _ in 0..n {
        let client = connect_from(server, "127.0.0.1").await;
        open.push(client.expect("within the cap"));
    }
    create_topic(&mut open[0], "t", 1).await;
    open
}

/// The status of a connection from `from` that must be refused.
async fn refused_from(server: &TestServer, from: &str) -> tonic::Status {
    connect_from(server, from).await.err().expect("refused")
}

async fn still_works(clients: &mut [Client]) {
    for client in clients {
        produce(client, "t", Some(0), vec![record(None, Some("x"))]).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_beyond_the_cap_is_refused_and_the_others_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let server = limited_server(dir.path(), 3, 100).await;
    let mut open = fill(&server, 3).await;

    let refused = refused_from(&server, "127.0.0.1").await;
    assert_refused(&refused, "allows 3 at once (--max-connections)");
    still_works(&mut open).await;

    // A closed connection's place goes to the next client.
    open.pop();
    let mut next = wait_for("a place to free up", || async {
        connect_from(&server, "127.0.0.1")
            .await
            .map_err(|status| format!("{status:?}"))
    })
    .await;
    still_works(std::slice::from_mut(&mut next)).await;
    still_works(&mut open).await;
    drop((open, next));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_connection() {
    let dir = tempfile::tempdir().unwrap();
    let server = limited_server(dir.path(), 100, 2).await;
    let mut open = fill(&server, 2).await;
    let refused = refused_from(&server, "127.0.0.1").await;
    assert_refused(&refused, "from 127.0.0.1");
    assert_refused(&refused, "(--max-connections-per-ip)");
    // Another address still gets in, and the first one's connections keep working.
    let other = connect_from(&server, "127.0.0.2")
        .await
        .expect("another address");
    open.push(other);
    still_works(&mut open).await;
    drop(open);
    server.stop().await;
}
