//! Retention of a replicated partition: moving a replica's log start is a Raft purge.
//!
//! A replica's log is its group's Raft log, so segments may not simply be deleted:
//! Raft must first hold a snapshot covering the entries (for a partition, its position:
//! the last applied entry and the offset after it) and then purge them itself, which
//! it delays while a replication in flight still reads them. Every replica trims its
//! own log by its own retention decision; a follower that later needs entries its
//! leader purged is sent the leader's snapshot and starts its log again there
//! (see [`super::state_machine`]).

use super::node::{PartitionReplica, ReplicaError};

/// What one trim request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trim {
    /// Nothing below the offset can go yet (no whole entry below it, or none applied).
    Nothing,
    /// A snapshot was asked for; the purge follows once it is built.
    SnapshotRequested {
        /// The entry the purge will reach.
        through: u64,
    },
    /// Raft was asked to purge the entries through this index (it does so once no
    /// replication reads them).
    PurgeRequested {
        /// The last entry to purge.
        through: u64,
    },
}

impl PartitionReplica {
    /// Asks the group to drop this replica's entries whose batches lie wholly below
    /// `offset` (a retention point), as far as they are applied. Safe to call again
    /// and again: each call moves towards the same point.
    pub async fn trim_below(&self, offset: u64) -> Result<Trim, ReplicaError> {
        let Some(index) = self.replica_log().last_index_below(offset) else {
            return Ok(Trim::Nothing);
        };
        let (applied, snapshot, purged) = {
            let metrics = self.raft().metrics();
            let m = metrics.borrow();
            (m.last_applied, m.snapshot, m.purged)
        };
        let index_of = |l: Option<super::types::LogId>| l.map(|l| l.index);
        let Some(through) = index_of(applied).map(|a| a.min(index)) else {
            return Ok(Trim::Nothing);
        };
        if index_of(purged).is_some_and(|p| p >= through) {
            return Ok(Trim::Nothing);
        }
        let stopped = |e: openraft::error::Fatal<u64>| ReplicaError::Stopped(e.to_string());
        if index_of(snapshot).is_none_or(|s| s < through) {
            self.raft().trigger().snapshot().await.map_err(stopped)?;
            return Ok(Trim::SnapshotRequested { through });
        }
        self.raft()
            .trigger()
            .purge_log(through)
            .await
            .map_err(stopped)?;
        Ok(Trim::PurgeRequested { through })
    }
}
