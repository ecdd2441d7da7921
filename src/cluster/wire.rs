//! What node-to-node messages carry besides entries, shared by both sides.

use serde::{Deserialize, Serialize};

use super::types::{LogId, Vote};

/// The fields of an AppendEntries request other than its entries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppendHeader {
    /// The leader's vote.
    pub vote: Vote,
    /// The entry just before the first one sent.
    pub prev_log_id: Option<LogId>,
    /// The leader's commit index.
    pub leader_commit: Option<LogId>,
}
