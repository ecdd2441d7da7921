//! A server with a Kafka listener, and one raw Kafka connection that sends requests
//! built by the `kafka-protocol` crate and decodes the answers, for the admin and
//! authentication tests of the Kafka listener.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use eventlog::kafka::KafkaConfig;
use eventlog::service::ServerConfig;
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader, TopicName};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::common::TestServer;

pub mod clients;
pub mod mutate;
pub mod seeds;

/// The client id every request of a [`Conn`] carries.
pub const CLIENT_ID: &str = "kafka-test";

/// A free loopback address for a Kafka listener.
pub fn free_addr() -> SocketAddr {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe");
    probe.local_addr().expect("addr")
}

/// A server over `dir` with a Kafka listener, `config` adjusted by `adjust`.
pub async fn start_with(
    dir: &Path,
    adjust: impl FnOnce(&mut ServerConfig),
) -> (TestServer, SocketAddr) {
    let addr = free_addr();
    let mut config = ServerConfig {
        kafka: Some(KafkaConfig::new(addr)),
        ..ServerConfig::default()
    };
    adjust(&mut config);
    let server = TestServer::start_with(dir, config).await;
    (server, addr)
}

/// A topic name for a request.
pub fn name(text: &str) -> TopicName {
    TopicName(StrBytes::from_string(text.to_string()))
}

/// A protocol string.
pub fn text(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_string())
}

/// One connection, sending requests and reading their answers in order.
pub struct Conn {
    stream: TcpStream,
    next_id: i32,
}

impl Conn {
    /// Connects, retrying while the listener starts.
    pub async fn open(addr: SocketAddr) -> Conn {
        for _ in 0..100 {
            if let Ok(stream) = TcpStream::connect(addr).await {
                return Conn { stream, next_id: 1 };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("cannot connect to the kafka listener at {addr}");
    }

    /// The socket, for bytes that are not requests (a bare SASL message).
    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// Sends a request; returns its correlation id.
    pub async fn send<R: Encodable>(&mut self, key: ApiKey, version: i16, request: &R) -> i32 {
        let id = self.next_id;
        self.next_id += 1;
        let mut body = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(id)
            .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)))
            .encode(&mut body, key.request_header_version(version))
            .expect("header");
        request.encode(&mut body, version).expect("request");
        self.stream
            .write_all(&(body.len() as u32).to_be_bytes())
            .await
            .expect("send");
        self.stream.write_all(&body).await.expect("send");
        id
    }

    /// Reads the next answer, checks its correlation id, and decodes it; `None` when
    /// the server closed the connection instead.
    pub async fn try_receive<R: Decodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        id: i32,
    ) -> Option<R> {
        let length = self.stream.read_u32().await.ok()?;
        let mut body = vec![0; length as usize];
        self.stream.read_exact(&mut body).await.ok()?;
        let mut body = Bytes::from(body);
        let header_version = if key == ApiKey::ApiVersions {
            0
        } else {
            key.response_header_version(version)
        };
        let header = ResponseHeader::decode(&mut body, header_version).expect("header");
        assert_eq!(header.correlation_id, id, "answers come in request order");
        Some(R::decode(&mut body, version).expect("answer body"))
    }

    /// Reads the next answer, checks its correlation id, and decodes it; the server
    /// must answer rather than close the connection.
    pub async fn receive<R: Decodable>(&mut self, key: ApiKey, version: i16, id: i32) -> R {
        self.try_receive(key, version, id).await.unwrap_or_else(|| {
            panic!("the server closed the connection instead of answering {key:?}")
        })
    }

    /// Sends a request and decodes its answer.
    pub async fn call<Q: Encodable, R: Decodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        request: &Q,
    ) -> R {
        let id = self.send(key, version, request).await;
        self.receive(key, version, id).await
    }

    /// Sends a request and expects the connection to close without an answer (the
    /// send itself may fail when the server closed it already).
    pub async fn expect_closed<Q: Encodable>(&mut self, key: ApiKey, version: i16, request: &Q) {
        let mut body = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.next_id)
            .encode(&mut body, key.request_header_version(version))
            .expect("header");
        request.encode(&mut body, version).expect("request");
        let mut frame = (body.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        if self.stream.write_all(&frame).await.is_err() {
            return;
        }
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut byte))
            .await
            .expect("the server neither answered nor closed");
        assert!(
            matches!(read, Ok(0) | Err(_)),
            "the server answered {key:?} instead of closing"
        );
    }
}
