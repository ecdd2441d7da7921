//! What a connection refused by its listener's [limits](super::connection_limits) gets.
//!
//! On a plaintext port the server waits (briefly) for the client's first call, then
//! answers with its HTTP/2 SETTINGS and a GOAWAY with code ENHANCE_YOUR_CALM whose debug
//! data names the limit, so the gRPC client's call fails with RESOURCE_EXHAUSTED (the
//! limit's text is in the error's details, as the client library shows GOAWAY data);
//! then the socket is closed. The call was not processed, so it is safe to retry. On a TLS
//! port there is no handshake to spend on a refused peer: the socket is closed at once
//! and the client sees UNAVAILABLE (connection closed). Either way the refusal is
//! counted in `eventlog_connections_refused_total` and logged, at most one line per
//! [`LOG_EVERY`] with the number refused since the last line, so a flood cannot flood
//! the log.
//!
//! Writing the GOAWAY takes a task that holds the socket for a moment; at most
//! [`MAX_LINGERING`] refused sockets are held at once, beyond that they are closed at
//! once too: refusals must cost less than the connections they refuse.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use super::connection_limits::Refusal;
use crate::telemetry::names;

/// Shortest time between two refusal log lines.
pub const LOG_EVERY: Duration = Duration::from_secs(10);
/// Most refused sockets held at once to tell their client why.
pub const MAX_LINGERING: usize = 64;
/// Longest a refused socket is held.
const LINGER: Duration = Duration::from_secs(1);
/// Longest wait for a refused client's first call.
const FIRST_CALL_WAIT: Duration = Duration::from_millis(500);
/// Most bytes read from a refused client before telling it.
const MAX_PREFACE_BYTES: usize = 16 << 10;
/// Length of the client's connection preface (`PRI * HTTP/2.0...`).
const CLIENT_PREFACE_LEN: usize = 24;
/// HTTP/2 frame types and the error code sent.
const HEADERS: u8 = 1;
const SETTINGS: u8 = 4;
const GOAWAY: u8 = 7;
const ENHANCE_YOUR_CALM: u32 = 0xb;

/// Refuses the connections a listener does not admit.
#[derive(Debug)]
pub struct Refuser {
    plaintext: bool,
    lingering: Arc<Semaphore>,
    log: Mutex<LogState>,
}

#[derive(Debug, Default)]
struct LogState {
    last: Option<Instant>,
    unlogged: u64,
}

impl Refuser {
    /// A refuser for a plaintext (`true`) or TLS listener.
    pub fn new(plaintext: bool) -> Refuser {
        Refuser {
            plaintext,
            lingering: Arc::new(Semaphore::new(MAX_LINGERING)),
            log: Mutex::default(),
        }
    }

    /// Counts, logs and closes `socket`, telling its client why when it can.
    pub fn refuse(&self, socket: TcpStream, refusal: Refusal) {
        metrics::counter!(names::CONNECTIONS_REFUSED, "limit" => refusal.label()).increment(1);
        self.log(&refusal);
        if !self.plaintext {
            return;
        }
        let Ok(slot) = Arc::clone(&self.lingering).try_acquire_owned() else {
            return;
        };
        tokio::spawn(async move {
            let _slot = slot;
            let _ = tokio::time::timeout(LINGER, tell(socket, &refusal)).await;
        });
    }

    fn log(&self, refusal: &Refusal) {
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        log.unlogged += 1;
        let now = Instant::now();
        if log
            .last
            .is_some_and(|last| now.duration_since(last) < LOG_EVERY)
        {
            return;
        }
        tracing::warn!(
            refused = log.unlogged,
            "refusing connections: {refusal} (the count is since the last such line)"
        );
        log.last = Some(now);
        log.unlogged = 0;
    }
}

/// Sends SETTINGS and GOAWAY naming the limit, then closes once the client has read
/// them: closing with unread input would reset the connection and could discard them.
async fn tell(mut socket: TcpStream, refusal: &Refusal) -> std::io::Result<()> {
    // A GOAWAY that reaches a call in flight fails it with the limit; one that comes
    // first would only tell the client the connection closed.
    let _ = tokio::time::timeout(FIRST_CALL_WAIT, first_call(&mut socket)).await;
    socket.write_all(&goaway(&refusal.to_string())).await?;
    socket.shutdown().await?;
    let mut sink = [0u8; 1024];
    while socket.read(&mut sink).await? > 0 {}
    Ok(())
}

/// Reads until the client has opened its first stream (a HEADERS frame after its
/// preface), has closed, or has sent more than a connection preface should take.
async fn first_call(socket: &mut TcpStream) -> std::io::Result<()> {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 1024];
    while seen.len() < MAX_PREFACE_BYTES && !opens_a_stream(&seen) {
        let read = socket.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        seen.extend_from_slice(&buffer[..read]);
    }
    Ok(())
}

/// Whether `bytes` (from the start of a connection) hold a HEADERS frame.
fn opens_a_stream(bytes: &[u8]) -> bool {
    let mut frames = bytes.get(CLIENT_PREFACE_LEN..).unwrap_or_default();
    while let [a, b, c, kind, ..] = *frames {
        if frames.len() < 9 {
            return false;
        }
        if kind == HEADERS {
            return true;
        }
        let len = u32::from_be_bytes([0, a, b, c]) as usize;
        frames = frames.get(9 + len..).unwrap_or_default();
    }
    false
}

/// An empty SETTINGS frame (the server preface) and a GOAWAY for no stream with code
/// ENHANCE_YOUR_CALM and `reason` as debug data.
fn goaway(reason: &str) -> Vec<u8> {
    let mut bytes = frame_header(0, SETTINGS);
    let mut payload = 0u32.to_be_bytes().to_vec();
    payload.extend_from_slice(&ENHANCE_YOUR_CALM.to_be_bytes());
    payload.extend_from_slice(reason.as_bytes());
    bytes.extend(frame_header(payload.len(), GOAWAY));
    bytes.extend(payload);
    bytes
}

/// A frame header on stream 0 without flags.
fn frame_header(len: usize, kind: u8) -> Vec<u8> {
    let mut header = (len as u32).to_be_bytes()[1..].to_vec();
    header.extend_from_slice(&[kind, 0, 0, 0, 0, 0]);
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_goaway_carries_its_code_and_reason() {
        let bytes = goaway("why");
        assert_eq!(&bytes[..9], &[0, 0, 0, SETTINGS, 0, 0, 0, 0, 0]);
        assert_eq!(&bytes[9..18], &[0, 0, 11, GOAWAY, 0, 0, 0, 0, 0]);
        assert_eq!(&bytes[18..26], &[0, 0, 0, 0, 0, 0, 0, 0xb]);
        assert_eq!(&bytes[26..], b"why");
    }

    #[test]
    fn a_stream_opens_with_a_headers_frame_after_the_preface() {
        let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        bytes.extend(frame_header(6, SETTINGS));
        bytes.extend([0; 6]);
        assert!(!opens_a_stream(&bytes));
        bytes.extend(frame_header(0, HEADERS));
        assert!(opens_a_stream(&bytes));
        assert!(
            !opens_a_stream(&bytes[..30]),
            "a cut frame header is not a frame"
        );
    }
}
