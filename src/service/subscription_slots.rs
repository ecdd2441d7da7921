//! A server-wide cap on open subscriptions.
//!
//! The streams of one connection are capped by HTTP/2 (see `server`), but many
//! connections could still hold any number of subscriptions, each with a task, a
//! notifier and up to a few chunks of buffered records. A subscription takes a slot for
//! as long as its stream lives; with every slot taken, a new one is refused at once with
//! RESOURCE_EXHAUSTED rather than queued, so the client can back off.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;

/// Most subscriptions open at once across all connections.
pub const MAX_OPEN_SUBSCRIPTIONS: usize = 1024;

/// Slots for open subscriptions; clones share them.
#[derive(Debug, Clone)]
pub struct SubscriptionSlots {
    slots: Arc<Semaphore>,
    max: usize,
}

/// A taken slot, released when dropped (when the subscription's stream ends).
pub type SubscriptionSlot = OwnedSemaphorePermit;

impl SubscriptionSlots {
    /// `max` slots.
    pub fn new(max: usize) -> Self {
        SubscriptionSlots {
            slots: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// Takes a slot, or fails with RESOURCE_EXHAUSTED when all are taken.
    pub fn take(&self) -> Result<SubscriptionSlot, Status> {
        Arc::clone(&self.slots).try_acquire_owned().map_err(|_| {
            Status::resource_exhausted(format!(
                "too many open subscriptions: the server allows {} at once; \
                 close one or retry later",
                self.max
            ))
        })
    }
}

impl Default for SubscriptionSlots {
    fn default() -> Self {
        SubscriptionSlots::new(MAX_OPEN_SUBSCRIPTIONS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn slots_run_out_and_come_back() {
        let slots = SubscriptionSlots::new(2);
        let first = slots.take().unwrap();
        let _second = slots.take().unwrap();
        let refused = slots.take().unwrap_err();
        assert_eq!(refused.code(), Code::ResourceExhausted);
        assert!(refused.message().contains("allows 2"), "{refused:?}");
        drop(first);
        assert!(slots.take().is_ok());
    }
}
