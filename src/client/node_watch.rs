//! The channel of a client given several addresses of one cluster: requests are spread
//! over the nodes that answer, and only over those.
//!
//! A plain balanced channel keeps every address in its set, and one whose node is down
//! still takes its share of requests, each failing at once with "tcp connect error":
//! with one node of three down, one command in three failed. Here each address is
//! checked (a TCP connection, opened and closed) before the first request and then every
//! [`CHECK_EVERY`]: a node that does not answer leaves the set, and joins it again once
//! it does. A request already sent to a node that dies still fails; the callers that
//! keep going (producers, subscriptions) retry it.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::mpsc::Sender;
use tokio::sync::mpsc::error::TrySendError;
use tonic::transport::channel::Change;
use tonic::transport::{Channel, Endpoint};

/// How often every address is checked again.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Changes queued per address before checks wait for requests to take them in.
const CHANGES_PER_NODE: usize = 64;
/// How long a check waits for a node to accept a connection.
const CHECK_WITHIN: Duration = Duration::from_secs(1);

/// A channel over `endpoints` that sends requests only to nodes that answer (to all of
/// them while none does, so that a request fails with the node's own error).
pub async fn watched(endpoints: Vec<Endpoint>) -> Channel {
    // The balancer takes changes in only when a request comes: room for many, so that
    // an idle client's checks never wait for one (a change that finds no room is sent
    // again at the next check).
    let room = (endpoints.len() * CHANGES_PER_NODE).max(1);
    let (channel, changes) = Channel::balance_channel::<usize>(room);
    let mut inserted = vec![false; endpoints.len()];
    let answering = check_all(&endpoints).await;
    let none = !answering.iter().any(|a| *a);
    for (index, endpoint) in endpoints.iter().enumerate() {
        if answering[index] || none {
            inserted[index] = true;
            let _ = changes.send(Change::Insert(index, endpoint.clone())).await;
        }
    }
    tokio::spawn(follow(endpoints, inserted, changes));
    channel
}

/// Keeps the set in line with which nodes answer, until the channel is dropped.
async fn follow(
    endpoints: Vec<Endpoint>,
    mut inserted: Vec<bool>,
    changes: Sender<Change<usize, Endpoint>>,
) {
    loop {
        tokio::time::sleep(CHECK_EVERY).await;
        if changes.is_closed() {
            return;
        }
        let answering = check_all(&endpoints).await;
        // While none answers, all stay: a request then fails with the node's own error
        // rather than waiting for a set that is empty.
        let none = !answering.iter().any(|a| *a);
        for (index, endpoint) in endpoints.iter().enumerate() {
            let wanted = answering[index] || none;
            if wanted == inserted[index] {
                continue;
            }
            let change = match wanted {
                true => Change::Insert(index, endpoint.clone()),
                false => Change::Remove(index),
            };
            match changes.try_send(change) {
                Ok(()) => inserted[index] = wanted,
                Err(TrySendError::Full(_)) => {}
                Err(TrySendError::Closed(_)) => return,
            }
        }
    }
}

/// Whether each endpoint's node accepts a TCP connection now.
async fn check_all(endpoints: &[Endpoint]) -> Vec<bool> {
    let checks = endpoints.iter().map(answers);
    futures_util::future::join_all(checks).await
}

async fn answers(endpoint: &Endpoint) -> bool {
    let uri = endpoint.uri();
    let Some(host) = uri.host() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    matches!(
        tokio::time::timeout(CHECK_WITHIN, TcpStream::connect((host, port))).await,
        Ok(Ok(_))
    )
}
