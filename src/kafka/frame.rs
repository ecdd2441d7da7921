//! Kafka's framing: a 4-byte big-endian length, then that many bytes. The length is
//! checked against the configured maximum before any of the body is read or
//! allocated, and a body must arrive within a deadline once it started, so neither a
//! huge length nor a trickling sender can pin memory for long.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

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

/// Reads one frame's body. Waits as long as needed for its first byte (an idle
/// connection), then at most `body_timeout` for the rest.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_bytes: usize,
    body_timeout: Duration,
) -> Result<Bytes, FrameError> {
    let mut prefix = [0u8; 4];
    match reader.read(&mut prefix[..1]).await {
        Ok(0) => return Err(FrameError::Closed),
        Ok(_) => {}
        Err(err) => return Err(FrameError::Truncated(err)),
    }
    let rest = async {
        reader.read_exact(&mut prefix[1..]).await?;
        let length = u64::from(u32::from_be_bytes(prefix));
        if length > max_bytes as u64 {
            return Ok(Err(FrameError::TooLarge {
                length,
                limit: max_bytes,
            }));
        }
        if length < MIN_REQUEST_BYTES as u64 {
            return Ok(Err(FrameError::TooShort(length)));
        }
        // Grows as bytes arrive rather than reserving the announced length up front.
        let mut body = Vec::new();
        let read = (&mut *reader).take(length).read_to_end(&mut body).await?;
        if (read as u64) < length {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(Ok(Bytes::from(body)))
    };
    match tokio::time::timeout(body_timeout, rest).await {
        Ok(Ok(result)) => result,
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

    #[tokio::test]
    async fn reads_a_whole_frame() {
        let mut input: &[u8] = &[0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 9];
        let body = read_frame(&mut input, 100, WAIT).await.expect("frame");
        assert_eq!(&body[..], &[1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[tokio::test]
    async fn refuses_a_length_above_the_limit_before_reading_it() {
        let mut input: &[u8] = &[0, 0, 1, 0];
        let err = read_frame(&mut input, 255, WAIT).await.unwrap_err();
        assert!(
            matches!(err, FrameError::TooLarge { length: 256, .. }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_body_cut_short_is_truncated_and_an_empty_stream_closed() {
        let mut cut: &[u8] = &[0, 0, 0, 9, 1, 2];
        let err = read_frame(&mut cut, 100, WAIT).await.unwrap_err();
        assert!(matches!(err, FrameError::Truncated(_)), "{err}");
        let mut empty: &[u8] = &[];
        let err = read_frame(&mut empty, 100, WAIT).await.unwrap_err();
        assert!(matches!(err, FrameError::Closed), "{err}");
    }

    #[tokio::test]
    async fn a_length_too_short_for_a_header_is_refused() {
        let mut input: &[u8] = &[0, 0, 0, 3, 1, 2, 3];
        let err = read_frame(&mut input, 100, WAIT).await.unwrap_err();
        assert!(matches!(err, FrameError::TooShort(3)), "{err}");
    }
}
