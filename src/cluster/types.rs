//! The Raft type configuration every replication group of a node shares.
//!
//! One configuration serves the metadata group and the partition groups alike: an
//! entry's application data is one record batch (Kafka's RecordBatch v2), because a
//! group's Raft log *is* its partition log. Log ids carry the term only (standard
//! Raft, one leader per term), which fits the batch header's leader-epoch field.

use std::io::Cursor;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::acks::LocalAck;

/// A node's id in the cluster (from `--node-id`).
pub type NodeId = u64;

/// What a node is reached at: the address of its gRPC port.
pub type Node = openraft::BasicNode;

/// A proposal: one encoded version 2 record batch. Its base offset and leader term are
/// stamped when it is appended to a replica's log. The second field, on the leader
/// only, is the notice a produce with `acks=leader` waits for; it is not sent to other
/// nodes (the wire form is the batch alone, as it always was).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "ProposalWire", into = "ProposalWire")]
pub struct Proposal(pub Bytes, pub LocalAck);

impl Proposal {
    /// A proposal of `batch` that nobody waits on before it commits.
    pub fn new(batch: Bytes) -> Proposal {
        Proposal(batch, LocalAck::default())
    }
}

/// A proposal as it travels between nodes: the batch.
#[derive(Clone, Serialize, Deserialize)]
struct ProposalWire(Bytes);

impl From<ProposalWire> for Proposal {
    fn from(wire: ProposalWire) -> Proposal {
        Proposal::new(wire.0)
    }
}

impl From<Proposal> for ProposalWire {
    fn from(proposal: Proposal) -> ProposalWire {
        ProposalWire(proposal.0)
    }
}

/// What applying an entry yields: the offsets its batch landed at (none for entries
/// that hold no records, such as a new leader's blank entry).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// First offset of the batch.
    pub base_offset: u64,
    /// Last offset of the batch.
    pub last_offset: u64,
    /// The batch's largest timestamp.
    pub max_timestamp_ms: i64,
}

/// What applying an entry yields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// A partition batch was committed at these offsets.
    Appended(Applied),
    /// A metadata command was applied, with this result.
    Metadata(super::metadata::CommandResult),
    /// The entry held no records (a blank or membership entry).
    #[default]
    Nothing,
}

openraft::declare_raft_types!(
    /// The type configuration of every replication group.
    pub GroupConfig:
        D = Proposal,
        R = Outcome,
        NodeId = NodeId,
        Node = Node,
        Entry = openraft::Entry<GroupConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A running replication group.
pub type GroupRaft = openraft::Raft<GroupConfig>;
/// A Raft log entry of a group.
pub type Entry = openraft::Entry<GroupConfig>;
/// A Raft log id (term and index).
pub type LogId = openraft::LogId<NodeId>;
/// A vote (term, candidate, committed).
pub type Vote = openraft::Vote<NodeId>;
/// A storage failure as Raft sees it.
pub type StorageError = openraft::StorageError<NodeId>;
/// A group's membership, as stored with the log id that set it.
pub type StoredMembership = openraft::StoredMembership<NodeId, Node>;
/// A group's membership.
pub type Membership = openraft::Membership<NodeId, Node>;
/// What a group reports of itself (its state, log, leader and, on the leader, its
/// followers' progress).
pub type RaftMetrics = openraft::RaftMetrics<NodeId, Node>;
