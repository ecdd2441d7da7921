//! A request larger than the message limit gets RESOURCE_EXHAUSTED.
//!
//! tonic rejects a request whose length prefix exceeds `max_decoding_message_size`
//! (before reading its body, so nothing large is buffered) with OUT_OF_RANGE. The gRPC
//! convention for a message over the limit is RESOURCE_EXHAUSTED, and in this API
//! OUT_OF_RANGE already means an offset outside a partition, so a client could not tell
//! the two apart. [`MessageLimit`] wraps a generated server and rewrites that one
//! status on the way out; every other response passes through untouched.

use std::convert::Infallible;
use std::task::{Context, Poll};

use futures_util::FutureExt;
use futures_util::future::Map;
use tonic::body::Body;
use tonic::codegen::{Service, http};
use tonic::server::NamedService;
use tonic::{Code, Status};

/// How tonic's message for an oversized request begins.
const TONIC_TOO_LARGE: &str = "Error, decoded message length too large: ";

type Reply = Result<http::Response<Body>, Infallible>;

/// A generated server whose oversized-request status is RESOURCE_EXHAUSTED.
#[derive(Debug, Clone)]
pub struct MessageLimit<S> {
    inner: S,
}

impl<S> MessageLimit<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        MessageLimit { inner }
    }
}

impl<S, B> Service<http::Request<B>> for MessageLimit<S>
where
    S: Service<http::Request<B>, Response = http::Response<Body>, Error = Infallible>,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Map<S::Future, fn(Reply) -> Reply>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        self.inner.call(request).map(remap as fn(Reply) -> Reply)
    }
}

impl<S: NamedService> NamedService for MessageLimit<S> {
    const NAME: &'static str = S::NAME;
}

fn remap(reply: Reply) -> Reply {
    let Ok(response) = reply;
    // A rejected request is answered trailers-only: the status is in the headers.
    let Some(status) = Status::from_header_map(response.headers()) else {
        return Ok(response);
    };
    match status.message().strip_prefix(TONIC_TOO_LARGE) {
        Some(sizes) if status.code() == Code::OutOfRange => {
            // tonic's sizes name the service's own limit (health's is smaller).
            let message = format!("request message too large ({sizes})");
            Ok(Status::resource_exhausted(message).into_http())
        }
        _ => Ok(response),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_of(reply: Reply) -> Status {
        let Ok(response) = reply;
        Status::from_header_map(response.headers()).expect("a status")
    }

    #[test]
    fn an_oversized_request_becomes_resource_exhausted() {
        let tonic_says = Status::out_of_range(format!("{TONIC_TOO_LARGE}found 9 bytes, ..."));
        let status = status_of(remap(Ok(tonic_says.into_http())));
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert!(status.message().contains("found 9 bytes"), "{status:?}");
    }

    #[test]
    fn other_out_of_range_replies_pass_through() {
        let ours = Status::out_of_range("offset 9 is out of range");
        let status = status_of(remap(Ok(ours.into_http())));
        assert_eq!(status.code(), Code::OutOfRange);
        assert_eq!(status.message(), "offset 9 is out of range");
    }
}
