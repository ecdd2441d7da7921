//! Limits of the health service, which answers without a token and outside the request
//! budget (load balancers probe it): small messages, and a cap on calls at once.
//!
//! A health request is a service name, so [`HEALTH_MAX_MESSAGE_BYTES`] is plenty; a
//! larger one is refused from its prefix with RESOURCE_EXHAUSTED before its body is
//! read. `Check` calls and `Watch` streams are capped separately ([`MAX_CHECKS`],
//! [`MAX_WATCHES`]), so clients holding watches open cannot starve probes; a call over
//! its cap gets RESOURCE_EXHAUSTED at once rather than waiting. A slot is held until the
//! call's response body ends (for `Watch`, until the stream closes).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;
use tonic::body::Body;
use tonic::codegen::{Service, http};
use tonic::server::NamedService;

/// Largest health request or reply.
pub const HEALTH_MAX_MESSAGE_BYTES: usize = 1024;
/// Most `Check` calls in progress at once, all connections together.
pub const MAX_CHECKS: usize = 128;
/// Most `Watch` streams open at once, all connections together.
pub const MAX_WATCHES: usize = 64;

/// A health service behind the caps on calls at once.
#[derive(Debug, Clone)]
pub struct HealthLimits<S> {
    inner: S,
    checks: Arc<Semaphore>,
    watches: Arc<Semaphore>,
}

impl<S> HealthLimits<S> {
    /// Wraps `inner` (already limited to [`HEALTH_MAX_MESSAGE_BYTES`]).
    pub fn new(inner: S) -> Self {
        HealthLimits {
            inner,
            checks: Arc::new(Semaphore::new(MAX_CHECKS)),
            watches: Arc::new(Semaphore::new(MAX_WATCHES)),
        }
    }
}

impl<S: NamedService> NamedService for HealthLimits<S> {
    const NAME: &'static str = S::NAME;
}

type Reply = Result<http::Response<Body>, Infallible>;

impl<S, B> Service<http::Request<B>> for HealthLimits<S>
where
    S: Service<http::Request<B>, Response = http::Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Reply> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let (slots, cap, what) = match request.uri().path().ends_with("/Watch") {
            true => (&self.watches, MAX_WATCHES, "health watches"),
            false => (&self.checks, MAX_CHECKS, "health checks"),
        };
        let Ok(slot) = Arc::clone(slots).try_acquire_owned() else {
            let status = Status::resource_exhausted(format!(
                "too many {what} at once: the server allows {cap}; retry later"
            ));
            return Box::pin(std::future::ready(Ok(status.into_http())));
        };
        let reply = self.inner.call(request);
        Box::pin(async move {
            let Ok(response) = reply.await;
            Ok(response.map(|body| Body::new(Holding { body, _slot: slot })))
        })
    }
}

/// A response body that holds its call's slot until it is dropped.
struct Holding {
    body: Body,
    _slot: OwnedSemaphorePermit,
}

impl http_body::Body for Holding {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
