//! What a proposal to a partition's group answers, locally or from another node.

use serde::{Deserialize, Serialize};

use super::types::{Applied, NodeId};
use crate::storage::producer_state::SequenceError;

/// A batch committed by its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposed {
    /// Where the batch (or, for a duplicate, the original) landed.
    pub applied: Applied,
    /// Whether this was a retry of an idempotent producer's batch already committed:
    /// nothing was written and `applied` names the original.
    pub duplicate: bool,
}

/// Why a proposal was not committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ProposeFailure {
    /// No leader could be reached in time (an election is under way, or a majority
    /// of the replicas is down). Retrying later may succeed.
    #[error("partition {topic}/{partition} has no reachable leader: {reason}")]
    NoLeader {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// What was tried.
        reason: String,
    },
    /// The node asked does not lead the group (it names the leader when it knows it).
    #[error("node does not lead the group; leader: {leader:?}")]
    NotLeader {
        /// The leader's id and address, when known.
        leader: Option<(NodeId, String)>,
    },
    /// The node asked leads the group but is handing its leadership to node `to`
    /// (a leadership balance): it takes no new batch for a moment. Retrying shortly
    /// reaches whichever node leads afterwards.
    #[error("leadership of the partition is being handed to node {to}; retry in a moment")]
    HandingOver {
        /// The node taking over.
        to: NodeId,
    },
    /// The idempotent producer's batch is refused.
    #[error(transparent)]
    Sequence(SequenceError),
    /// A conditional batch (`expected_next_offset`) would not have landed at the
    /// expected offset; nothing of it was written.
    #[error("expected the next offset to be {expected}, but it is {actual}")]
    OffsetMismatch {
        /// The offset the batch was to land at.
        expected: u64,
        /// The partition's next offset, as its leader saw it.
        actual: u64,
    },
    /// The batch is not a valid version 2 batch.
    #[error("invalid batch: {0}")]
    Invalid(String),
    /// The group failed (a storage error on the leader, or shutdown).
    #[error("replication failed: {0}")]
    Failed(String),
}
