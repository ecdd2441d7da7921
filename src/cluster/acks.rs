//! How much replication a produce waits for before it is acknowledged.
//!
//! - [`Acks::All`] (the default): a majority of the partition's replicas hold the batch
//!   durably (under each node's fsync policy) and it is committed. Losing any minority
//!   of the replicas loses no acknowledged batch.
//! - [`Acks::Leader`]: the leader's own log holds the batch durably; the followers may
//!   not have it yet. This saves the round trip to the followers, at a price: if the
//!   leader is lost before a majority holds the batch, a new leader does not have it
//!   and the batch is gone (its offsets are reused), although it was acknowledged. It
//!   is Kafka's `acks=1`.
//!
//! Either way consumers see a batch only once it is committed, so nothing a consumer
//! read can vanish. On a single node (or a topic with one replica) both levels are the
//! same.
//!
//! The leader learns that its own log holds a batch through a [`LocalAck`] carried
//! inside the proposal: the log store fires it once the append (and its fsync) is
//! done. It lives in memory on the leader only and is never sent to other nodes.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

use super::types::Applied;

/// What a produce waits for before it is acknowledged (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Acks {
    /// A majority of the replicas hold the batch and it is committed.
    #[default]
    All,
    /// The leader's log holds the batch durably.
    Leader,
}

/// Tells a waiting produce where its batch landed once the leader's own log holds it.
/// Empty for every proposal that does not ask for it, and for every entry a node
/// received from another node or read back from its log.
#[derive(Clone, Default)]
pub struct LocalAck(Option<Arc<Mutex<Option<oneshot::Sender<Applied>>>>>);

impl LocalAck {
    /// A notice and the receiver that hears it.
    pub fn pair() -> (LocalAck, oneshot::Receiver<Applied>) {
        let (tx, rx) = oneshot::channel();
        (LocalAck(Some(Arc::new(Mutex::new(Some(tx))))), rx)
    }

    /// Whether someone waits for this notice.
    pub fn is_wanted(&self) -> bool {
        self.0.is_some()
    }

    /// Reports where the batch landed; only the first report counts.
    pub fn notify(&self, applied: Applied) {
        let Some(slot) = &self.0 else { return };
        let sender = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(sender) = sender {
            // The produce may have given up waiting; then nobody needs the answer.
            let _ = sender.send(applied);
        }
    }
}

/// A notice is not part of the entry's value: two proposals of the same batch are equal.
impl PartialEq for LocalAck {
    fn eq(&self, _: &LocalAck) -> bool {
        true
    }
}

impl Eq for LocalAck {}

impl fmt::Debug for LocalAck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_wanted() {
            "LocalAck(wanted)"
        } else {
            "LocalAck"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_report_reaches_the_receiver() {
        let (ack, mut rx) = LocalAck::pair();
        let copy = ack.clone();
        let first = Applied {
            base_offset: 5,
            last_offset: 9,
            max_timestamp_ms: 1,
        };
        copy.notify(first);
        ack.notify(Applied::default());
        assert_eq!(rx.try_recv().unwrap(), first);
    }

    #[test]
    fn an_empty_notice_is_not_wanted_and_ignores_reports() {
        let ack = LocalAck::default();
        assert!(!ack.is_wanted());
        ack.notify(Applied::default());
        assert!(LocalAck::pair().0.is_wanted());
    }
}
