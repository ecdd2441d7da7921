//! Turning a [`Subscription`] into a gRPC response stream paced by the client.
//!
//! A task per stream pulls one event at a time from the subscription and sends it into
//! a channel of [`STREAM_BUFFER`] messages that tonic drains as HTTP/2 flow control
//! allows. When the client reads slowly, the window closes, tonic stops draining, the
//! channel fills, and the task waits in `send`: it reads nothing further, so server
//! memory per stream stays at a few chunks and the reader is never dropped or skipped.
//! When the client goes away the channel closes and the task stops at once, even while
//! it is waiting for new data. A group subscription with auto-commit also commits, on
//! its timer, what this task has handed over (see [`super::auto_commit`]).

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::auto_commit::{AutoCommit, next_commit};
use super::convert::stored_to_wire;
use super::raw_delivery::subscribe_batches_to_wire;
use super::rpc_metrics::stream_ended;
use super::subscription_slots::SubscriptionSlot;
use crate::broker::{Subscription, SubscriptionEvent};
use crate::proto::v1 as pb;
use crate::proto::v1::event_log_server::SERVICE_NAME;
use crate::telemetry::traffic::{self, OpenStream, Via};

/// Messages buffered per stream between the reader task and tonic.
pub const STREAM_BUFFER: usize = 2;

/// The response stream of `Subscribe`.
pub type SubscribeStream = ReceiverStream<Result<pb::SubscribeResponse, Status>>;

/// Spawns the reader task of `subscription` (with its auto-commit, if any) and returns
/// the stream it feeds. The stream ends only with an error status (shutdown, topic
/// deleted, unreadable data, a failed auto-commit). The task holds `slot` until it ends.
pub fn stream_subscription(
    subscription: Subscription,
    auto_commit: Option<AutoCommit>,
    slot: SubscriptionSlot,
) -> SubscribeStream {
    let (sender, receiver) = mpsc::channel(STREAM_BUFFER);
    tokio::spawn(async move {
        pump(subscription, sender, auto_commit).await;
        drop(slot);
    });
    ReceiverStream::new(receiver)
}

async fn pump(
    mut subscription: Subscription,
    sender: mpsc::Sender<Result<pb::SubscribeResponse, Status>>,
    mut auto_commit: Option<AutoCommit>,
) {
    let _open = OpenStream::open();
    let topic = subscription.topic().unwrap_or_default().to_owned();
    loop {
        // `next` is cancel-safe: a read interrupted by a commit is simply read again.
        let event = tokio::select! {
            event = subscription.next() => event,
            () = sender.closed() => break,
            committed = next_commit(&mut auto_commit) => match committed {
                Ok(()) => continue,
                Err(err) => Err(err),
            },
        };
        let message = match event {
            Ok(event) => {
                match &event {
                    SubscriptionEvent::Records { records, .. } => {
                        traffic::delivered(&topic, Via::Subscribe, records);
                    }
                    SubscriptionEvent::Batches { read, .. } => {
                        traffic::delivered_batches(&topic, Via::Subscribe, read);
                    }
                    SubscriptionEvent::CaughtUp => {}
                }
                Ok(to_wire(event))
            }
            Err(err) => {
                let status = Status::from(err);
                stream_ended(SERVICE_NAME, "Subscribe", status.code());
                Err(status)
            }
        };
        let last = message.is_err();
        // Waiting here is the back-pressure: it lasts as long as the client is slow.
        if sender.send(message).await.is_err() || last {
            break;
        }
        if let Some(auto) = auto_commit.as_mut() {
            auto.handed_over(subscription.positions());
        }
    }
    tracing::debug!(positions = ?subscription.positions(), "subscription ended");
}

fn to_wire(event: SubscriptionEvent) -> pb::SubscribeResponse {
    match event {
        SubscriptionEvent::Records { partition, records } => pb::SubscribeResponse {
            records: records
                .into_iter()
                .map(|r| stored_to_wire(partition, r))
                .collect(),
            caught_up: false,
            batches: None,
        },
        SubscriptionEvent::Batches {
            partition,
            from,
            read,
        } => subscribe_batches_to_wire(partition, from, read),
        SubscriptionEvent::CaughtUp => pb::SubscribeResponse {
            records: Vec::new(),
            caught_up: true,
            batches: None,
        },
    }
}
