//! A server-wide budget on request bytes held in memory at once.
//!
//! tonic reads a request message whole before the handler runs, a connection may carry
//! [`MAX_STREAMS_PER_CONNECTION`](super::server::MAX_STREAMS_PER_CONNECTION) calls, and
//! each message may be up to [`MAX_MESSAGE_BYTES`]: without a budget a few clients could
//! make the server hold gigabytes of half-received produce requests. Every request body
//! is read through [`BudgetedBody`], which parses the 5-byte gRPC prefix of each message
//! and reserves the message's whole length from one shared semaphore *before* passing on
//! any byte of the chunk that starts it. The reservation is returned when the call's
//! response is ready: the handler has used the message by then.
//!
//! A message that does not fit fails its call at once with RESOURCE_EXHAUSTED (clients
//! retry later) instead of waiting: the calls of one connection share its HTTP/2 window,
//! so a call parked on the budget would keep its received bytes in that window and could
//! stall the very calls whose completion would free the budget.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;
use tonic::codegen::{Service, http};
use tonic::server::NamedService;

use super::MAX_MESSAGE_BYTES;

/// Length of the gRPC message prefix: a compression flag and a big-endian `u32` length.
const PREFIX_LEN: usize = 5;

/// The shared budget: at most `bytes` of request messages reserved at once.
#[derive(Debug, Clone)]
pub struct Budget {
    permits: Arc<Semaphore>,
    total: u32,
}

impl Budget {
    /// A budget of `bytes` (at least one largest message, at most `u32::MAX`).
    pub fn new(bytes: u64) -> Budget {
        let floor = (MAX_MESSAGE_BYTES + PREFIX_LEN) as u64;
        let total = bytes.clamp(floor, u64::from(u32::MAX)) as u32;
        Budget {
            permits: Arc::new(Semaphore::new(total as usize)),
            total,
        }
    }

    /// Bytes not reserved right now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

/// Wraps a service so its request bodies are read within a [`Budget`].
#[derive(Debug, Clone)]
pub struct RequestBudget<S> {
    inner: S,
    budget: Budget,
}

impl<S> RequestBudget<S> {
    /// `inner`, reading request bodies within `budget`.
    pub fn new(inner: S, budget: Budget) -> RequestBudget<S> {
        RequestBudget { inner, budget }
    }
}

impl<S: NamedService> NamedService for RequestBudget<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B, R> Service<http::Request<B>> for RequestBudget<S>
where
    S: Service<http::Request<BudgetedBody<B>>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let held = Reservations::default();
        let request =
            request.map(|body| BudgetedBody::new(body, self.budget.clone(), held.clone()));
        let reply = self.inner.call(request);
        Box::pin(async move {
            let result = reply.await;
            // The handler is done with the message (a stream's reader has converted it).
            held.release();
            result
        })
    }
}

/// The permits one call holds, shared by its body and its response future.
#[derive(Debug, Clone, Default)]
struct Reservations(Arc<Mutex<Vec<OwnedSemaphorePermit>>>);

impl Reservations {
    fn hold(&self, permit: OwnedSemaphorePermit) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(permit);
    }

    fn release(&self) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// A request body that reserves each message's bytes from the budget before passing on
/// the chunk that starts the message, and fails when they do not fit.
pub struct BudgetedBody<B> {
    inner: B,
    budget: Budget,
    held: Reservations,
    framing: Framing,
}

impl<B> BudgetedBody<B> {
    fn new(inner: B, budget: Budget, held: Reservations) -> BudgetedBody<B> {
        BudgetedBody {
            inner,
            budget,
            held,
            framing: Framing::default(),
        }
    }
}

impl<B> Body for BudgetedBody<B>
where
    B: Body<Data = Bytes, Error = Status> + Unpin,
{
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = &mut *self;
        let frame = match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            other => return Poll::Ready(other),
        };
        let chunk = match frame.into_data() {
            Ok(chunk) => chunk,
            Err(trailers) => return Poll::Ready(Some(Ok(trailers))),
        };
        let need = this.framing.feed(&chunk).min(u64::from(this.budget.total)) as u32;
        if need > 0 {
            match this.budget.permits.clone().try_acquire_many_owned(need) {
                Ok(permit) => this.held.hold(permit),
                Err(_) => {
                    return Poll::Ready(Some(Err(Status::resource_exhausted(format!(
                        "the server holds too many request bytes to take this {need}-byte \
                         message now (budget {} bytes, --max-request-memory); retry later",
                        this.budget.total
                    )))));
                }
            }
        }
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Where the body stands in the gRPC message framing.
#[derive(Debug, Default)]
struct Framing {
    prefix: [u8; PREFIX_LEN],
    prefix_len: usize,
    /// Payload bytes of the current message still to come.
    payload_left: u64,
}

impl Framing {
    /// Walks `chunk` and returns the bytes to reserve for the messages whose prefix it
    /// completes. Messages over the size limit reserve nothing: tonic refuses them from
    /// the prefix alone.
    fn feed(&mut self, mut chunk: &[u8]) -> u64 {
        let mut need = 0;
        while !chunk.is_empty() {
            if self.payload_left > 0 {
                let n = self.payload_left.min(chunk.len() as u64);
                self.payload_left -= n;
                chunk = &chunk[n as usize..];
                continue;
            }
            let n = (PREFIX_LEN - self.prefix_len).min(chunk.len());
            self.prefix[self.prefix_len..self.prefix_len + n].copy_from_slice(&chunk[..n]);
            self.prefix_len += n;
            chunk = &chunk[n..];
            if self.prefix_len == PREFIX_LEN {
                self.prefix_len = 0;
                let len = u32::from_be_bytes(self.prefix[1..].try_into().expect("4 bytes"));
                self.payload_left = u64::from(len);
                if (len as usize) <= MAX_MESSAGE_BYTES {
                    need += u64::from(len);
                }
            }
        }
        need
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    /// A body yielding the given chunks.
    struct Chunks(VecDeque<Bytes>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = Status;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
            Poll::Ready(self.0.pop_front().map(|c| Ok(Frame::data(c))))
        }
    }

    fn message(len: usize) -> Vec<u8> {
        let mut bytes = vec![0];
        bytes.extend_from_slice(&(len as u32).to_be_bytes());
        bytes.resize(PREFIX_LEN + len, 7);
        bytes
    }

    fn poll(body: &mut BudgetedBody<Chunks>) -> Option<Result<Bytes, Status>> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match Pin::new(body).poll_frame(&mut cx) {
            Poll::Ready(frame) => frame.map(|f| f.map(|f| f.into_data().unwrap())),
            Poll::Pending => panic!("a chunk body is always ready"),
        }
    }

    #[test]
    fn framing_reserves_each_message_once_across_chunk_boundaries() {
        let mut framing = Framing::default();
        let two = [message(10), message(3)].concat();
        // The first prefix split over two chunks, the second inside the third chunk.
        assert_eq!(framing.feed(&two[..2]), 0);
        assert_eq!(framing.feed(&two[2..8]), 10);
        assert_eq!(framing.feed(&two[8..]), 3);
        // An oversized message reserves nothing; its payload is skipped, not parsed.
        let mut framing = Framing::default();
        let mut huge = vec![0];
        huge.extend_from_slice(&(MAX_MESSAGE_BYTES as u32 + 1).to_be_bytes());
        assert_eq!(framing.feed(&huge), 0);
        assert_eq!(framing.feed(&[1, 0, 0, 0, 9]), 0, "payload, not a prefix");
    }

    #[test]
    fn a_message_that_does_not_fit_fails_and_a_finished_call_returns_its_share() {
        let budget = Budget::new(0);
        let total = budget.available();
        let len = MAX_MESSAGE_BYTES / 2;
        let bytes = Bytes::from(message(len));
        let body = |held: &Reservations| {
            BudgetedBody::new(
                Chunks(VecDeque::from([bytes.slice(..1000), bytes.slice(1000..)])),
                budget.clone(),
                held.clone(),
            )
        };
        // Another call holds all but half a message: this one is refused at once.
        let other = budget
            .permits
            .clone()
            .try_acquire_many_owned((total - len + 1) as u32)
            .unwrap();
        let refused = poll(&mut body(&Reservations::default()))
            .unwrap()
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(refused.message().contains("retry later"), "{refused:?}");
        assert_eq!(budget.available(), len - 1, "a refusal reserves nothing");
        drop(other);

        let held = Reservations::default();
        let mut accepted = body(&held);
        assert_eq!(poll(&mut accepted).unwrap().unwrap(), bytes.slice(..1000));
        assert_eq!(
            budget.available(),
            total - len,
            "the whole message is reserved"
        );
        assert_eq!(poll(&mut accepted).unwrap().unwrap(), bytes.slice(1000..));
        assert!(poll(&mut accepted).is_none());
        held.release();
        assert_eq!(budget.available(), total);
    }
}
