//! Pausing the accept loop while the process is out of file descriptors.
//!
//! When `accept` fails with EMFILE or ENFILE the pending connection stays queued, so
//! the listener is immediately ready again: without a pause, the accept loop would spin
//! on the same error and burn a core until a descriptor is freed. Connected clients
//! are unaffected either way; new ones wait in the listen queue during the pause.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio_stream::Stream;

use crate::storage::Exhausted;

/// How long accepting pauses after running out of descriptors.
const PAUSE: Duration = Duration::from_millis(100);

/// A stream of accepted connections that pauses after an exhaustion error instead of
/// handing it on.
pub struct PacedIncoming<S> {
    inner: S,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> PacedIncoming<S> {
    /// Wraps a stream of accepted connections.
    pub fn new(inner: S) -> PacedIncoming<S> {
        PacedIncoming { inner, pause: None }
    }
}

impl<S, T> Stream for PacedIncoming<S>
where
    S: Stream<Item = io::Result<T>> + Unpin,
{
    type Item = io::Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(pause) = this.pause.as_mut() {
                ready!(pause.as_mut().poll(cx));
                this.pause = None;
            }
            match ready!(Pin::new(&mut this.inner).poll_next(cx)) {
                Some(Err(error)) if let Some(what) = Exhausted::of(&error) => {
                    tracing::warn!(%what, "cannot accept a connection; pausing accepts");
                    this.pause = Some(Box::pin(tokio::time::sleep(PAUSE)));
                }
                other => return Poll::Ready(other),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::StreamExt;

    #[tokio::test]
    async fn exhaustion_pauses_and_other_errors_pass() {
        let accepted = tokio_stream::iter(vec![
            Err(io::Error::from_raw_os_error(24)),
            Err(io::Error::other("reset")),
            Ok(7),
        ]);
        let seen: Vec<_> = PacedIncoming::new(accepted)
            .map(|r| r.map_err(|e| e.to_string()))
            .collect()
            .await;
        assert_eq!(seen, vec![Err("reset".to_string()), Ok(7)]);
    }
}
