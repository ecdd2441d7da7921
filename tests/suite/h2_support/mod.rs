//! gRPC calls driven through the `h2` client, so a test controls a request body byte by
//! byte: it can send a message's 5-byte prefix and then stall, like a slow or hostile
//! client, while still reading the status the server answers with.
#![allow(dead_code)]

use std::net::SocketAddr;

use bytes::Bytes;
use h2::SendStream;
use h2::client::{ResponseFuture, SendRequest};
use tokio::net::TcpStream;
use tonic::codegen::http;

/// One HTTP/2 connection to the server.
pub struct H2Connection {
    addr: SocketAddr,
    sender: SendRequest<Bytes>,
}

/// A call whose request body is still open.
pub struct OpenCall {
    /// The server's answer, once it gives one.
    pub response: ResponseFuture,
    /// The request body; kept open (dropping it would cancel the call).
    pub body: SendStream<Bytes>,
}

impl H2Connection {
    /// Connects over plaintext HTTP/2.
    pub async fn connect(addr: SocketAddr) -> H2Connection {
        let socket = TcpStream::connect(addr).await.expect("tcp connect");
        let (sender, connection) = h2::client::handshake(socket).await.expect("h2 handshake");
        tokio::spawn(connection);
        H2Connection { addr, sender }
    }

    /// Starts a call to `path` and sends `first_bytes` of its body, leaving it open.
    pub async fn start(&mut self, path: &str, first_bytes: Bytes) -> OpenCall {
        let request = http::Request::post(format!("http://{}{path}", self.addr))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .unwrap();
        let mut sender = self.sender.clone().ready().await.expect("h2 ready");
        let (response, mut body) = sender.send_request(request, false).expect("send request");
        body.send_data(first_bytes, false).expect("send data");
        OpenCall { response, body }
    }
}

/// The 5-byte gRPC prefix of an uncompressed message of `len` bytes.
pub fn prefix(len: u32) -> Bytes {
    let mut bytes = vec![0];
    bytes.extend_from_slice(&len.to_be_bytes());
    Bytes::from(bytes)
}

/// The status the server answered `response` with, trailers-only (as a refused or
/// failed call is answered).
pub async fn status_of(response: ResponseFuture) -> tonic::Status {
    let response = response.await.expect("a response");
    tonic::Status::from_header_map(response.headers()).expect("a trailers-only status")
}
