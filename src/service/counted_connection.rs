//! An admitted connection, counted in `eventlog_open_connections` and against its
//! listener's [connection limits](super::connection_limits) while it is open.
//!
//! The server's incoming stream wraps every admitted socket in a [`CountedConnection`];
//! the counts go up on accept and down when tonic drops the connection. Reading and
//! writing pass straight through. Each request on it carries a [`ConnectionInfo`] in
//! its extensions: the peer's address and the connection's share of the request budget.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::Connected;

use super::connection_limits::Admission;
use super::request_budget::ConnectionShare;
use crate::telemetry::names;

/// What every request of a connection knows about it.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// The peer's address.
    pub remote: SocketAddr,
    /// What the connection may reserve of the request budget.
    pub share: ConnectionShare,
}

/// A connection that counts itself as open until dropped.
#[derive(Debug)]
pub struct CountedConnection<T> {
    inner: T,
    info: ConnectionInfo,
    /// Gives the connection's place back to its listener's limits when dropped.
    _admission: Admission,
}

impl<T> CountedConnection<T> {
    /// Counts `inner`, admitted by `admission`, as open.
    pub fn new(inner: T, admission: Admission, share: ConnectionShare) -> Self {
        metrics::gauge!(names::OPEN_CONNECTIONS).increment(1.0);
        let info = ConnectionInfo {
            remote: admission.peer(),
            share,
        };
        CountedConnection {
            inner,
            info,
            _admission: admission,
        }
    }
}

impl<T> Drop for CountedConnection<T> {
    fn drop(&mut self) {
        metrics::gauge!(names::OPEN_CONNECTIONS).decrement(1.0);
    }
}

impl<T> Connected for CountedConnection<T> {
    type ConnectInfo = ConnectionInfo;

    fn connect_info(&self) -> ConnectionInfo {
        self.info.clone()
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for CountedConnection<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for CountedConnection<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
