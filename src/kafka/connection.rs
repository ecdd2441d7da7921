//! One client connection: read a frame, handle it, write the answer, in order, one
//! request at a time (Kafka answers a connection's requests in the order they came,
//! and clients rely on it). Anything that cannot be answered closes only this
//! connection, with the reason logged.
//!
//! With tokens, the connection carries its SASL state (see [`sasl`](super::sasl)):
//! after a version 0 handshake the next frame is the bare PLAIN message rather than a
//! request, and a failed authentication closes the connection once its answer is
//! written.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use super::context::Context;
use super::dispatch::{self, Outcome};
use super::frame::{FrameError, read_frame, write_frame};
use super::sasl::AuthState;

/// Limits of one connection.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Largest request frame.
    pub max_request_bytes: usize,
    /// Longest a frame's body may take to arrive once it started.
    pub body_timeout: Duration,
    /// A connection with no request for this long is closed (Kafka's
    /// `connections.max.idle.ms` is ten minutes too).
    pub idle_timeout: Duration,
}

/// Shared by every connection of a listener.
#[derive(Debug, Clone)]
pub struct Shared {
    /// Request bytes all connections together may hold (see [`read_frame`]).
    pub memory: Arc<Semaphore>,
}

/// A connection as accepted: plain TCP, or TLS when the server has a certificate.
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP, handshake done.
    Tls(Box<TlsStream<TcpStream>>),
}

/// Serves `stream` until the peer closes it, a request cannot be answered, it idles
/// too long, or `stop` is cancelled.
pub async fn serve(
    ctx: Arc<Context>,
    stream: Stream,
    peer: SocketAddr,
    limits: ConnectionLimits,
    shared: Shared,
    stop: CancellationToken,
) {
    let ctx = Arc::new(ctx.for_connection());
    let connection = Connection {
        ctx,
        peer,
        limits,
        shared,
        stop,
    };
    match stream {
        // Owned halves: no lock between reading and writing on the plain path.
        Stream::Plain(tcp) => {
            let (reader, writer) = tcp.into_split();
            connection.run(reader, writer).await;
        }
        Stream::Tls(tls) => {
            let (reader, writer) = tokio::io::split(*tls);
            connection.run(reader, writer).await;
        }
    }
}

/// One connection's settings, for its request loop.
struct Connection {
    ctx: Arc<Context>,
    peer: SocketAddr,
    limits: ConnectionLimits,
    shared: Shared,
    stop: CancellationToken,
}

impl Connection {
    async fn run<R, W>(self, reader: R, mut writer: W)
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let Connection {
            ctx,
            peer,
            limits,
            shared,
            stop,
        } = self;
        let mut reader = BufReader::new(reader);
        loop {
            let frame = tokio::select! {
                frame = read_frame(&mut reader, limits.max_request_bytes, limits.body_timeout, &shared.memory) => frame,
                () = tokio::time::sleep(limits.idle_timeout) => {
                    tracing::debug!(%peer, "closing an idle kafka connection");
                    return;
                }
                () = stop.cancelled() => return,
            };
            let frame = match frame {
                Ok(frame) => frame,
                Err(FrameError::Closed) => return,
                Err(err) => {
                    tracing::warn!(%peer, reason = %err, "closing kafka connection");
                    return;
                }
            };
            if matches!(ctx.session.state(), AuthState::AwaitingBareToken) {
                // Version 0 SASL: the frame is the PLAIN message; success is an empty
                // frame, failure closes the connection.
                if let Err(reason) = ctx.session.authenticate(&frame.body) {
                    tracing::warn!(%peer, %reason, "closing kafka connection");
                    return;
                }
                if write_frame(&mut writer, &BytesMut::new()).await.is_err() {
                    return;
                }
                continue;
            }
            // The frame keeps its memory reserved until its answer is written.
            match dispatch::handle(&ctx, frame.body.clone()).await {
                Outcome::Reply(body) => {
                    if let Err(err) = write_frame(&mut writer, &body).await {
                        tracing::debug!(%peer, error = %err, "kafka connection lost while answering");
                        return;
                    }
                }
                Outcome::NoReply => {}
                Outcome::Close(reason) => {
                    tracing::warn!(%peer, %reason, "closing kafka connection");
                    return;
                }
            }
            if matches!(ctx.session.state(), AuthState::Failed) {
                tracing::warn!(%peer, "closing kafka connection after a failed SASL authentication");
                return;
            }
        }
    }
}
