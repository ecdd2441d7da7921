//! One listener's accept pipeline: pause while out of file descriptors
//! ([`accept_pacing`](super::accept_pacing)), admit within the listener's own
//! [connection limits](super::connection_limits) and refuse the rest
//! ([`connection_refusal`](super::connection_refusal)), and count and describe what is
//! admitted ([`counted_connection`](super::counted_connection)).
//!
//! The server has one listener today, for clients. Each call of [`admitted`] makes a
//! gate of its own, so a second listener (node-to-node traffic of a future cluster)
//! gets limits of its own and is never starved by clients filling theirs.

use std::io;

use tokio::net::{TcpListener, TcpStream};
use tokio_stream::{Stream, StreamExt as _};
use tonic::transport::server::TcpIncoming;

use super::accept_pacing::PacedIncoming;
use super::connection_limits::{ConnectionGate, ConnectionLimits};
use super::connection_refusal::Refuser;
use super::counted_connection::CountedConnection;
use super::request_budget::Budget;

/// The connections `listener` admits within `limits`, each with its share of `budget`;
/// `plaintext` says whether refused clients can be told why over HTTP/2.
pub fn admitted(
    listener: TcpListener,
    limits: ConnectionLimits,
    budget: Budget,
    plaintext: bool,
) -> impl Stream<Item = io::Result<CountedConnection<TcpStream>>> {
    let gate = ConnectionGate::new(limits);
    let refuser = Refuser::new(plaintext);
    // `Server::tcp_nodelay` only reaches sockets tonic binds itself; accepted sockets
    // need it too, or Nagle's algorithm stalls small replies for 40 ms.
    let accepted = PacedIncoming::new(TcpIncoming::from(listener).with_nodelay(Some(true)));
    accepted.filter_map(move |accepted| {
        let socket = match accepted {
            Ok(socket) => socket,
            Err(error) => return Some(Err(error)),
        };
        // A peer gone before we looked has nothing left to serve.
        let peer = socket.peer_addr().ok()?;
        match gate.admit(peer) {
            Ok(admission) => Some(Ok(CountedConnection::new(
                socket,
                admission,
                budget.connection_share(),
            ))),
            Err(refusal) => {
                refuser.refuse(socket, refusal);
                None
            }
        }
    })
}
