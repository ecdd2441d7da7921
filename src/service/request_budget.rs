//! A server-wide budget on request bytes held in memory at once, with a share per
//! connection and a deadline for each message's body.
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
//!
//! A reservation is made from a prefix alone, so two more bounds keep stalled clients
//! from holding the budget: each connection may hold at most its [`ConnectionShare`]
//! (a quarter of the budget, at least one largest message), and a message's payload
//! must arrive within the body timeout of its reservation, or the call fails with
//! DEADLINE_EXCEEDED and its reservation is released.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;
use tonic::Status;
use tonic::codegen::{Service, http};
use tonic::server::NamedService;

use super::MAX_MESSAGE_BYTES;
use super::counted_connection::ConnectionInfo;
use super::message_framing::{Framing, PREFIX_LEN};

/// The budget's share one connection may hold: one part in this many.
const CONNECTION_SHARE_DIVISOR: u32 = 4;

/// The shared budget: at most `bytes` of request messages reserved at once.
#[derive(Debug, Clone)]
pub struct Budget {
    permits: Arc<Semaphore>,
    total: u32,
    body_timeout: Duration,
}

impl Budget {
    /// A budget of `bytes` (at least one largest message, at most `u32::MAX`) whose
    /// reservations wait at most `body_timeout` for their message's payload.
    pub fn new(bytes: u64, body_timeout: Duration) -> Budget {
        let floor = (MAX_MESSAGE_BYTES + PREFIX_LEN) as u64;
        let total = bytes.clamp(floor, u64::from(u32::MAX)) as u32;
        Budget {
            permits: Arc::new(Semaphore::new(total as usize)),
            total,
            body_timeout,
        }
    }

    /// Bytes not reserved right now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }

    /// A fresh share for one new connection: a quarter of the budget, but never less
    /// than one largest message, so every valid message fits on any connection.
    pub fn connection_share(&self) -> ConnectionShare {
        let floor = (MAX_MESSAGE_BYTES + PREFIX_LEN) as u32;
        let total = (self.total / CONNECTION_SHARE_DIVISOR).max(floor);
        ConnectionShare {
            permits: Arc::new(Semaphore::new(total as usize)),
            total,
        }
    }

    /// Reserves `need` bytes from `share` (if any) and the budget, or neither.
    fn reserve(
        &self,
        need: u32,
        share: Option<&ConnectionShare>,
        held: &Reservations,
    ) -> Result<(), Status> {
        let from_share = match share {
            Some(share) => Some(
                share
                    .permits
                    .clone()
                    .try_acquire_many_owned(need)
                    .map_err(|_| share.refusal(need, self.total))?,
            ),
            None => None,
        };
        let permit = self
            .permits
            .clone()
            .try_acquire_many_owned(need)
            .map_err(|_| {
                Status::resource_exhausted(format!(
                    "the server holds too many request bytes to take this {need}-byte \
                 message now (budget {} bytes, --max-request-memory); retry later",
                    self.total
                ))
            })?;
        held.hold(permit);
        if let Some(permit) = from_share {
            held.hold(permit);
        }
        Ok(())
    }
}

/// What one connection may reserve of the [`Budget`]: one stalled or greedy peer cannot
/// take it all from the others.
#[derive(Debug, Clone)]
pub struct ConnectionShare {
    permits: Arc<Semaphore>,
    total: u32,
}

impl ConnectionShare {
    fn refusal(&self, need: u32, budget: u32) -> Status {
        Status::resource_exhausted(format!(
            "this connection holds too many request bytes to take this {need}-byte message \
             now (a connection may hold {} of the {budget}-byte budget, \
             --max-request-memory); retry later",
            self.total
        ))
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
        // Absent only for connections not accepted by the server's listener (tests).
        let share = request
            .extensions()
            .get::<ConnectionInfo>()
            .map(|info| info.share.clone());
        let budget = self.budget.clone();
        let request = request.map(|body| BudgetedBody::new(body, budget, share, held.clone()));
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
struct Reservations(Arc<Mutex<Held>>);

/// A call's permits, and whether its response is ready.
#[derive(Debug, Default)]
struct Held {
    permits: Vec<OwnedSemaphorePermit>,
    responded: bool,
}

impl Reservations {
    fn hold(&self, permit: OwnedSemaphorePermit) {
        self.lock().permits.push(permit);
    }

    /// The response is ready: the messages read so far are used.
    fn release(&self) {
        let mut held = self.lock();
        held.permits.clear();
        held.responded = true;
    }

    /// A message of a streaming request arrived whole after the response was ready:
    /// the handler reads it from there, so its reservation is returned now rather
    /// than when the stream ends (a long-lived stream of small messages, such as a
    /// group member's heartbeats, would otherwise hold more and more of the budget).
    fn release_if_responded(&self) {
        let mut held = self.lock();
        if held.responded {
            held.permits.clear();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A request body that reserves each message's bytes from the budget before passing on
/// the chunk that starts the message, fails when they do not fit, and fails when the
/// message's payload does not arrive in time.
pub struct BudgetedBody<B> {
    inner: B,
    budget: Budget,
    share: Option<ConnectionShare>,
    held: Reservations,
    framing: Framing,
    /// Running while a reserved message is incomplete.
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<B> BudgetedBody<B> {
    fn new(
        inner: B,
        budget: Budget,
        share: Option<ConnectionShare>,
        held: Reservations,
    ) -> BudgetedBody<B> {
        BudgetedBody {
            inner,
            budget,
            share,
            held,
            framing: Framing::default(),
            deadline: None,
        }
    }

    /// Nothing arrived: fails the call once the payload is overdue.
    fn poll_deadline(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let Some(deadline) = self.deadline.as_mut() else {
            return Poll::Pending;
        };
        ready!(deadline.as_mut().poll(cx));
        self.deadline = None;
        // Released here rather than when the response is ready: the point is to free
        // the memory even if the stalled call's response could not be sent.
        self.held.release();
        let timeout = self.budget.body_timeout;
        Poll::Ready(Some(Err(Status::deadline_exceeded(format!(
            "the request message did not arrive whole within {timeout:?} of its \
             first bytes (--request-body-timeout); its reserved memory was released"
        )))))
    }

    /// Starts the deadline for a newly reserved message, and stops it once the
    /// message's payload is complete.
    fn track_deadline(&mut self, reserved: bool) {
        if !self.framing.inside_message() {
            self.deadline = None;
            self.held.release_if_responded();
        } else if reserved || self.deadline.is_none() {
            self.deadline = Some(Box::pin(tokio::time::sleep(self.budget.body_timeout)));
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
        let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(other) => return Poll::Ready(other),
            Poll::Pending => return this.poll_deadline(cx),
        };
        let chunk = match frame.into_data() {
            Ok(chunk) => chunk,
            Err(trailers) => return Poll::Ready(Some(Ok(trailers))),
        };
        let need = this.framing.feed(&chunk).min(u64::from(this.budget.total)) as u32;
        if need > 0
            && let Err(status) = this.budget.reserve(need, this.share.as_ref(), &this.held)
        {
            return Poll::Ready(Some(Err(status)));
        }
        this.track_deadline(need > 0);
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    /// A body yielding the given chunks, then nothing more (pending forever) unless it
    /// is told the body ends.
    struct Chunks {
        chunks: VecDeque<Bytes>,
        ends: bool,
    }

    impl Body for Chunks {
        type Data = Bytes;
        type Error = Status;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
            match self.chunks.pop_front() {
                Some(chunk) => Poll::Ready(Some(Ok(Frame::data(chunk)))),
                None if self.ends => Poll::Ready(None),
                None => Poll::Pending,
            }
        }
    }

    fn message(len: usize) -> Bytes {
        let mut bytes = vec![0];
        bytes.extend_from_slice(&(len as u32).to_be_bytes());
        bytes.resize(PREFIX_LEN + len, 7);
        Bytes::from(bytes)
    }

    const TIMEOUT: Duration = Duration::from_secs(30);

    fn body(
        budget: &Budget,
        share: Option<&ConnectionShare>,
        held: &Reservations,
        chunks: Vec<Bytes>,
        ends: bool,
    ) -> BudgetedBody<Chunks> {
        let chunks = Chunks {
            chunks: chunks.into(),
            ends,
        };
        BudgetedBody::new(chunks, budget.clone(), share.cloned(), held.clone())
    }

    async fn next(body: &mut BudgetedBody<Chunks>) -> Option<Result<Bytes, Status>> {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await;
        frame.map(|f| f.map(|f| f.into_data().unwrap()))
    }

    #[tokio::test]
    async fn a_message_that_does_not_fit_fails_and_a_finished_call_returns_its_share() {
        let budget = Budget::new(0, TIMEOUT);
        let total = budget.available();
        let len = MAX_MESSAGE_BYTES / 2;
        let bytes = message(len);
        let chunks = vec![bytes.slice(..1000), bytes.slice(1000..)];
        // Another call holds all but half a message: this one is refused at once.
        let other = budget
            .permits
            .clone()
            .try_acquire_many_owned((total - len + 1) as u32)
            .unwrap();
        let mut refused = body(
            &budget,
            None,
            &Reservations::default(),
            chunks.clone(),
            true,
        );
        let refused = next(&mut refused).await.unwrap().unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(refused.message().contains("retry later"), "{refused:?}");
        assert_eq!(budget.available(), len - 1, "a refusal reserves nothing");
        drop(other);

        let held = Reservations::default();
        let mut accepted = body(&budget, None, &held, chunks, true);
        assert_eq!(
            next(&mut accepted).await.unwrap().unwrap(),
            bytes.slice(..1000)
        );
        assert_eq!(
            budget.available(),
            total - len,
            "the whole message is reserved"
        );
        assert_eq!(
            next(&mut accepted).await.unwrap().unwrap(),
            bytes.slice(1000..)
        );
        assert!(next(&mut accepted).await.is_none());
        held.release();
        assert_eq!(budget.available(), total);
    }

    #[tokio::test]
    async fn one_connection_holds_at_most_its_share_of_the_budget() {
        let budget = Budget::new(256 << 20, TIMEOUT);
        let share = budget.connection_share();
        assert_eq!(share.total as usize, MAX_MESSAGE_BYTES + PREFIX_LEN);
        let len = 40 << 20;
        let held = Reservations::default();
        let mut first = body(
            &budget,
            Some(&share),
            &held,
            vec![message(len).slice(..9)],
            false,
        );
        next(&mut first).await.unwrap().unwrap();
        let mut second = body(
            &budget,
            Some(&share),
            &held,
            vec![message(len).slice(..9)],
            false,
        );
        let refused = next(&mut second).await.unwrap().unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(refused.message().contains("this connection"), "{refused:?}");
        assert_eq!(
            budget.available(),
            (256 << 20) - len,
            "the refusal took nothing"
        );
        // Another connection has a share of its own.
        let other = budget.connection_share();
        let mut third = body(
            &budget,
            Some(&other),
            &held,
            vec![message(len).slice(..9)],
            false,
        );
        next(&mut third).await.unwrap().unwrap();
        // A small budget still lets each connection take one largest message.
        assert!(Budget::new(0, TIMEOUT).connection_share().total as usize >= MAX_MESSAGE_BYTES);
    }

    #[tokio::test]
    async fn a_stalled_body_fails_after_the_timeout_and_releases_its_reservation() {
        let budget = Budget::new(0, Duration::from_millis(50));
        let total = budget.available();
        let held = Reservations::default();
        let mut stalled = body(
            &budget,
            None,
            &held,
            vec![message(1 << 20).slice(..100)],
            false,
        );
        next(&mut stalled).await.unwrap().unwrap();
        assert_eq!(budget.available(), total - (1 << 20));
        let failed = next(&mut stalled).await.unwrap().unwrap_err();
        assert_eq!(failed.code(), tonic::Code::DeadlineExceeded);
        assert!(
            failed.message().contains("--request-body-timeout"),
            "{failed:?}"
        );
        assert_eq!(
            budget.available(),
            total,
            "released without waiting for the reply"
        );
    }

    #[tokio::test]
    async fn a_streaming_call_returns_each_later_message_once_it_is_whole() {
        let budget = Budget::new(0, TIMEOUT);
        let total = budget.available();
        let held = Reservations::default();
        let first = message(100);
        let later = message(1 << 20);
        let chunks = vec![first, later.slice(..100), later.slice(100..)];
        let mut stream = body(&budget, None, &held, chunks, false);
        next(&mut stream).await.unwrap().unwrap();
        assert_eq!(budget.available(), total - 100, "held until the response");
        // The handler answered (the response stream is open); messages keep coming.
        held.release();
        assert_eq!(budget.available(), total);
        next(&mut stream).await.unwrap().unwrap();
        assert_eq!(
            budget.available(),
            total - (1 << 20),
            "reserved while arriving"
        );
        next(&mut stream).await.unwrap().unwrap();
        assert_eq!(budget.available(), total, "returned once whole");
    }
}
