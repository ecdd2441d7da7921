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
//! done. It lives in memory on the leader only and is never sent to other nodes. It
//! also carries a conditional append's expected offset, which the leader's log store
//! checks as it appends (see [`Landed::Refused`]).

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

/// What the leader's own log did with a proposal (see [`LocalAck`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Landed {
    /// The batch is durable in the leader's log at these offsets.
    At(Applied),
    /// The proposal's condition failed: the log's next offset was not the expected
    /// one, so a placeholder (a blank control batch, which readers skip) took the
    /// entry's place and nothing of the batch was written. `next_offset` is the log's
    /// next offset after the placeholder.
    Refused {
        /// The offset the proposal expected to land at.
        expected: u64,
        /// The log's next offset now.
        next_offset: u64,
    },
}

/// What travels with a proposal into the leader's own log store, in memory only:
/// the notice that tells a waiting produce what became of its batch there, and the
/// proposal's condition, if any (`expected_next_offset`: the batch is written only if
/// it lands at exactly that offset, which the log store checks as it appends, the one
/// moment the offset is certain). Empty for every proposal that asks for neither, and
/// for every entry a node received from another node or read back from its log:
/// followers store whatever the leader stored, so the condition is decided once.
#[derive(Clone, Default)]
pub struct LocalAck {
    notice: Option<Arc<Mutex<Option<oneshot::Sender<Landed>>>>>,
    expected: Option<u64>,
}

impl LocalAck {
    /// A notice and the receiver that hears it.
    pub fn pair() -> (LocalAck, oneshot::Receiver<Landed>) {
        Self::expecting(None)
    }

    /// A notice for a proposal whose batch must land at `expected` (when given).
    pub fn expecting(expected: Option<u64>) -> (LocalAck, oneshot::Receiver<Landed>) {
        let (tx, rx) = oneshot::channel();
        let ack = LocalAck {
            notice: Some(Arc::new(Mutex::new(Some(tx)))),
            expected,
        };
        (ack, rx)
    }

    /// Whether someone waits for this notice.
    pub fn is_wanted(&self) -> bool {
        self.notice.is_some()
    }

    /// The offset the batch must land at, if the proposal is conditional.
    pub fn expected(&self) -> Option<u64> {
        self.expected
    }

    /// Reports what became of the batch; only the first report counts.
    pub fn notify(&self, landed: Landed) {
        let Some(slot) = &self.notice else { return };
        let sender = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(sender) = sender {
            // The produce may have given up waiting; then nobody needs the answer.
            let _ = sender.send(landed);
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
        copy.notify(Landed::At(first));
        ack.notify(Landed::At(Applied::default()));
        assert_eq!(rx.try_recv().unwrap(), Landed::At(first));
    }

    #[test]
    fn an_empty_notice_is_not_wanted_and_ignores_reports() {
        let ack = LocalAck::default();
        assert!(!ack.is_wanted());
        ack.notify(Landed::At(Applied::default()));
        assert!(LocalAck::pair().0.is_wanted());
        assert_eq!(LocalAck::pair().0.expected(), None);
        assert_eq!(LocalAck::expecting(Some(7)).0.expected(), Some(7));
    }
}
