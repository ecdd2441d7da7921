//! Consumer-group offsets as the metadata group replicates them.
//!
//! In a cluster, a group's commits are metadata commands: every node applies them in
//! log order, so a group's position survives the loss of any minority of nodes and
//! reads the same through every node. Each node mirrors the applied changes into its
//! own group store (which serves reads, lag and expiry as on a single node); the
//! [`GroupChange`]s below are what the metadata machine hands to that mirror, in the
//! order it applied them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One partition's position in a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetEntry {
    /// The partition.
    pub partition: u32,
    /// The next offset the group will read.
    pub next_offset: u64,
    /// Free-form metadata given with the commit.
    pub metadata: String,
}

/// A stored position: the next offset, its metadata and when it was committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredOffset {
    /// The next offset the group will read.
    pub next_offset: u64,
    /// Free-form metadata given with the commit.
    pub metadata: String,
    /// When the proposer accepted the commit, ms since the epoch (the same on every
    /// node, so every mirror expires the group at the same time).
    pub time_ms: i64,
}

/// Every group's positions: group → topic → partition → position.
pub type GroupOffsets = BTreeMap<String, BTreeMap<String, BTreeMap<u32, StoredOffset>>>;

/// A change to the groups, as applied by the metadata group, for a node's mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupChange {
    /// Positions were committed.
    Commit {
        /// The group.
        group: String,
        /// The topic.
        topic: String,
        /// The positions.
        offsets: Vec<OffsetEntry>,
        /// When they were committed.
        time_ms: i64,
    },
    /// Every position of the group was removed.
    DeleteGroup {
        /// The group.
        group: String,
    },
    /// Every group's positions in the topic were removed (the topic was deleted).
    DeleteTopic {
        /// The topic.
        topic: String,
    },
    /// The state was replaced by a snapshot: the mirror makes its groups exactly these.
    Reset(GroupOffsets),
}

/// A group change with the index of the metadata entry that made it.
pub type IndexedChange = (u64, GroupChange);
