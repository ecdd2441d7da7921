//! Kafka's framing: a 4-byte big-endian length, then that many bytes. The length is
//! checked against the configured maximum before any of the body is read or
//! allocated; its bytes are reserved from the listener's memory budget before the body is
//! read; and a body must arrive within a deadline once it started, so neither a huge
//! length, nor many connections, nor a trickling sender can pin memory for long.

use std::time::Duration;

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Smallest request body: API key, version and correlation id (2 + 2 + 4 bytes).
pub const MIN_REQUEST_BYTES: usize = 8;

/// Why no request could be read; each closes the connection.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer closed the connection between requests (the normal end).
    #[error("connection closed")]
    Closed,
    /// The connection ended or failed inside a frame.
    #[error("truncated frame: {0}")]
    Truncated(std::io::Error),
    /// The length prefix is above the limit.
    #[error("frame of {length} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The announced length.
        length: u64,
        /// The limit.
        limit: usize,
    },
    /// The length prefix is too small for a request header.
    #[error("frame of {0} bytes is too short for a request header")]
    TooShort(u64),
    /// The body did not arrive in time.
    #[error("frame body not received within {0:?}")]
    Slow(Duration),
}

/// A request frame's body, holding its bytes' share of the listener's memory budget
/// until it is dropped (after the request was handled).
#[derive(Debug)]
pub struct Frame {
    /// The body: request header and message.
    pub body: Bytes,
    _reserved: OwnedSemaphorePermit,
}

/// Reads one frame's body. Waits as long as needed for its first byte (an idle
/// connection); reserves the announced length from `memory` (waiting while other
/// connections hold it, so the listener never holds more request bytes than the
/// budget); then waits at most `body_timeout` for the rest of the prefix and for the
/// body.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_bytes: usize,
    body_timeout: Duration,
    memory: &Arc<Semaphore>,
) -> Result<Frame, FrameError> {
    let mut prefix = [0u8; 4];
    match reader.read(&mut prefix[..1]).await {
        Ok(0) => return Err(FrameError::Closed),
        Ok(_) => {}
        Err(err) => return Err(FrameError::Truncated(err)),
    }
    match tokio::time::timeout(body_timeout, reader.read_exact(&mut prefix[1..])).await {
        Ok(Ok(_)) => {}
        Ok(Err(err)) => return Err(FrameError::Truncated(err)),
        Err(_) => return Err(FrameError::Slow(body_timeout)),
    }
    let length = u32::from_be_bytes(prefix);
    if u64::from(length) > max_bytes as u64 {
        return Err(FrameError::TooLarge {
            length: u64::from(length),
            limit: max_bytes,
        });
    }
    if (length as usize) < MIN_REQUEST_BYTES {
        return Err(FrameError::TooShort(u64::from(length)));
    }
    let reserved = Arc::clone(memory)
        .acquire_many_owned(length)
        .await
        .map_err(|_| FrameError::Truncated(std::io::Error::other("memory budget closed")))?;
    let body = async {
        // Grows as bytes arrive rather than allocating the announced length up front.
        let mut body = Vec::new();
        let read = (&mut *reader)
            .take(u64::from(length))
            .read_to_end(&mut body)
            .await?;
        if read < length as usize {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(Bytes::from(body))
    };
    match tokio::time::timeout(body_timeout, body).await {
        Ok(Ok(body)) => Ok(Frame {
            body,
            _reserved: reserved,
        }),
        Ok(Err(err)) => Err(FrameError::Truncated(err)),
        Err(_) => Err(FrameError::Slow(body_timeout)),
    }
}

/// Writes `body` (response header and message) as one frame.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    body: &BytesMut,
) -> std::io::Result<()> {
    let length = u32::try_from(body.len())
        .map_err(|_| std::io::Error::other("response larger than 4 GiB"))?;
    writer.write_all(&length.to_be_bytes()).await?;
    writer.write_all(body).await?;
    writer.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(5);

    fn memory() -> Arc<Semaphore> {
        Arc::new(Semaphore::new(1 << 20))
    }

    #[tokio::test]
    async fn reads_a_whole_frame() {
        let mut input: &[u8] = &[0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 9];
        let body = read_frame(&mut input, 100, WAIT, &memory())
            .await
            .expect("frame");
        assert_eq!(&body.body[..], &[1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[tokio::test]
    async fn refuses_a_length_above_the_limit_before_reading_it() {
        let mut input: &[u8] = &[0, 0, 1, 0];
        let err = read_frame(&mut input, 255, WAIT, &memory())
            .await
            .unwrap_err();
        assert!(
            matches!(err, FrameError::TooLarge { length: 256, .. }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_body_cut_short_is_truncated_and_an_empty_stream_closed() {
        let mut cut: &[u8] = &[0, 0, 0, 9, 1, 2];
        let err = read_frame(&mut cut, 100, WAIT, &memory())
            .await
            .unwrap_err();
        assert!(matches!(err, FrameError::Truncated(_)), "{err}");
        let mut empty: &[u8] = &[];
        let err = read_frame(&mut empty, 100, WAIT, &memory())
            .await
            .unwrap_err();
        assert!(matches!(err, FrameError::Closed), "{err}");
    }

    #[tokio::test]
    async fn a_frame_holds_its_bytes_of_the_budget_until_dropped() {
        let memory = Arc::new(Semaphore::new(20));
        let mut input: &[u8] = &[0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8];
        let frame = read_frame(&mut input, 100, WAIT, &memory)
            .await
            .expect("frame");
        assert_eq!(memory.available_permits(), 12);
        drop(frame);
        assert_eq!(memory.available_permits(), 20);
    }

    #[tokio::test]
    async fn a_length_too_short_for_a_header_is_refused() {
        let mut input: &[u8] = &[0, 0, 0, 3, 1, 2, 3];
        let err = read_frame(&mut input, 100, WAIT, &memory())
            .await
            .unwrap_err();
        assert!(matches!(err, FrameError::TooShort(3)), "{err}");
    }
}
