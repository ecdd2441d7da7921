//! Raw clients for bad-input tests: gRPC calls with hand-made protobuf bytes (a codec
//! that passes bytes through), hand-made protobuf fields, and HTTP/2 frames written
//! straight to a TCP socket, for what no well-behaved client would send.
#![allow(dead_code)]

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Sends and receives message bodies as they are, without protobuf.
#[derive(Debug, Clone, Copy, Default)]
pub struct BytesCodec;

impl Codec for BytesCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = BytesCodec;
    type Decoder = BytesCodec;

    fn encoder(&mut self) -> Self::Encoder {
        BytesCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        BytesCodec
    }
}

impl Encoder for BytesCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for BytesCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// A unary call of `path` (e.g. `/eventlog.v1.EventLog/Fetch`) with `body` as the
/// request message; no limit on the size sent.
pub async fn raw_unary(channel: &Channel, path: &str, body: Bytes) -> Result<Bytes, Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready()
        .await
        .map_err(|err| Status::unavailable(err.to_string()))?;
    let path = PathAndQuery::try_from(path.to_string()).expect("a valid path");
    grpc.unary(tonic::Request::new(body), path, BytesCodec)
        .await
        .map(tonic::Response::into_inner)
}

/// A connected channel to `url`.
pub async fn channel(url: &str) -> Channel {
    tonic::transport::Endpoint::from_shared(url.to_string())
        .expect("url")
        .connect()
        .await
        .expect("connect")
}

/// Whether the server's health service says SERVING for the EventLog service.
pub async fn serving(channel: &Channel) -> bool {
    let reply = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: "eventlog.v1.EventLog".into(),
        })
        .await
        .expect("health check")
        .into_inner();
    reply.status == ServingStatus::Serving as i32
}

/// Protobuf wire types.
pub const VARINT: u8 = 0;
/// 64-bit fixed.
pub const FIXED64: u8 = 1;
/// Length-delimited (strings, bytes, messages).
pub const LEN: u8 = 2;
/// 32-bit fixed.
pub const FIXED32: u8 = 5;

/// Appends `value` as a base-128 varint.
pub fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends a field key.
pub fn key(out: &mut Vec<u8>, field: u32, wire_type: u8) {
    varint(out, (u64::from(field) << 3) | u64::from(wire_type));
}

/// Appends a varint field.
pub fn varint_field(out: &mut Vec<u8>, field: u32, value: u64) {
    key(out, field, VARINT);
    varint(out, value);
}

/// Appends a length-delimited field.
pub fn len_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    key(out, field, LEN);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// HTTP/2 frame types used here.
pub const DATA: u8 = 0;
/// HEADERS.
pub const HEADERS: u8 = 1;
/// SETTINGS.
pub const SETTINGS: u8 = 4;
/// PING.
pub const PING: u8 = 6;
/// SETTINGS_MAX_CONCURRENT_STREAMS.
pub const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 3;

/// An HTTP/2 connection spoken frame by frame over plain TCP (prior knowledge, as gRPC
/// does without TLS).
pub struct RawH2 {
    socket: TcpStream,
    buffer: BytesMut,
    /// The server's SETTINGS, as (identifier, value) pairs.
    pub server_settings: Vec<(u16, u32)>,
}

/// One received frame.
pub struct Frame {
    /// Frame type.
    pub kind: u8,
    /// Flags.
    pub flags: u8,
    /// Stream identifier.
    pub stream: u32,
    /// Payload.
    pub payload: Bytes,
}

impl RawH2 {
    /// Connects, sends the preface and empty SETTINGS, and reads the server's SETTINGS.
    pub async fn connect(addr: std::net::SocketAddr) -> RawH2 {
        let mut socket = TcpStream::connect(addr).await.expect("tcp connect");
        socket
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .expect("preface");
        let mut raw = RawH2 {
            socket,
            buffer: BytesMut::new(),
            server_settings: Vec::new(),
        };
        raw.send(SETTINGS, 0, 0, &[]).await;
        loop {
            let frame = raw.read_frame().await.expect("server settings");
            if frame.kind == SETTINGS && frame.flags & 1 == 0 {
                let mut payload = frame.payload;
                while payload.remaining() >= 6 {
                    raw.server_settings
                        .push((payload.get_u16(), payload.get_u32()));
                }
                raw.send(SETTINGS, 1, 0, &[]).await;
                return raw;
            }
        }
    }

    /// Sends one frame.
    pub async fn send(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        let mut frame = Vec::with_capacity(9 + payload.len());
        frame.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
        frame.push(kind);
        frame.push(flags);
        frame.extend_from_slice(&stream.to_be_bytes());
        frame.extend_from_slice(payload);
        self.socket.write_all(&frame).await.expect("send frame");
    }

    /// Opens stream `stream` with a gRPC POST to `path` (END_HEADERS, not END_STREAM).
    pub async fn send_grpc_headers(&mut self, stream: u32, path: &str) {
        let mut block = Vec::new();
        for (name, value) in [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", path),
            (":authority", "localhost"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        ] {
            // Literal header field without indexing, new name, no Huffman coding.
            block.push(0);
            hpack_string(&mut block, name);
            hpack_string(&mut block, value);
        }
        self.send(HEADERS, 0x4, stream, &block).await;
    }

    /// Sends a PING and reads frames until its ACK: every frame sent before it has
    /// been processed by the server's HTTP/2 layer.
    pub async fn ping_pong(&mut self) {
        let token = *b"badinput";
        self.send(PING, 0, 0, &token).await;
        loop {
            let frame = self.read_frame().await.expect("ping ack");
            if frame.kind == PING && frame.flags & 1 == 1 && frame.payload[..] == token {
                return;
            }
        }
    }

    /// Reads the next frame, or `None` when the server closed the connection.
    pub async fn read_frame(&mut self) -> Option<Frame> {
        loop {
            if self.buffer.len() >= 9 {
                let len = u32::from_be_bytes([0, self.buffer[0], self.buffer[1], self.buffer[2]])
                    as usize;
                if self.buffer.len() >= 9 + len {
                    let header = self.buffer.split_to(9);
                    let payload = self.buffer.split_to(len).freeze();
                    let stream = u32::from_be_bytes([header[5], header[6], header[7], header[8]])
                        & 0x7fff_ffff;
                    return Some(Frame {
                        kind: header[3],
                        flags: header[4],
                        stream,
                        payload,
                    });
                }
            }
            let read = self.socket.read_buf(&mut self.buffer).await.ok()?;
            if read == 0 {
                return None;
            }
        }
    }
}

fn hpack_string(out: &mut Vec<u8>, text: &str) {
    assert!(text.len() < 127, "short strings only");
    out.push(text.len() as u8);
    out.extend_from_slice(text.as_bytes());
}
