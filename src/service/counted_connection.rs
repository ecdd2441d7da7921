//! An accepted connection counted in `eventlog_open_connections` while it is open.
//!
//! The server's incoming stream wraps every accepted socket in a [`CountedConnection`];
//! the count goes up on accept and down when tonic drops the connection. Reading and
//! writing pass straight through.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::Connected;

use crate::telemetry::names;

/// A connection that counts itself as open until dropped.
#[derive(Debug)]
pub struct CountedConnection<T> {
    inner: T,
}

impl<T> CountedConnection<T> {
    /// Counts `inner` as open.
    pub fn new(inner: T) -> Self {
        metrics::gauge!(names::OPEN_CONNECTIONS).increment(1.0);
        CountedConnection { inner }
    }
}

impl<T> Drop for CountedConnection<T> {
    fn drop(&mut self) {
        metrics::gauge!(names::OPEN_CONNECTIONS).decrement(1.0);
    }
}

impl<T: Connected> Connected for CountedConnection<T> {
    type ConnectInfo = T::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
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
