//! Raft's state machine for a partition group: applying a committed entry moves the
//! partition's **commit watermark** (one past the last committed offset), the bound
//! below which consumers may read. The records themselves are already in the log,
//! which is the Raft log, so applying writes nothing.
//!
//! A snapshot of a partition is its position, not its data: the last applied entry,
//! the membership, the offset after it, and the producer state as of that offset. A
//! follower is sent one when its leader's retention purged the entries it lacks;
//! unless it holds the log up to the snapshot already, it starts its log again, empty,
//! at the snapshot's offset (as a Kafka follower behind its leader's log start does),
//! takes the producer state (so it recognises retries of the batches it never
//! received) and fetches from there.

use std::io::Cursor;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use openraft::storage::{RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{AnyError, EntryPayload, OptionalSend, RaftSnapshotBuilder, StorageIOError};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::log_store::blocking;
use super::replica_log::ReplicaLog;
use super::types::{Applied, Entry, GroupConfig, LogId, Outcome, StorageError, StoredMembership};
use crate::storage::batch_v2;

/// How often the applied position is stored while entries keep coming (a crash
/// re-applies at most this much, which only re-reads batches).
const SAVE_APPLIED_EVERY: Duration = Duration::from_secs(1);

/// The data of a partition snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionSnapshot {
    /// One past the last offset the snapshot covers.
    pub next_offset: u64,
    /// The partition's producer state as of `next_offset`: a producer snapshot
    /// (`storage-format.md`, "Producer snapshot") in base64. A replica that starts its
    /// log again at `next_offset` takes it, so it recognises a retry of a batch it
    /// never received if it comes to lead. Absent from a node of an older version,
    /// which sends none (and ignores one sent to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producers: Option<String>,
}

/// The state machine of one partition group.
pub struct PartitionMachine {
    replica: Arc<ReplicaLog>,
    commit: watch::Sender<u64>,
    applied: Option<LogId>,
    membership: StoredMembership,
    saved_at: Instant,
}

impl PartitionMachine {
    /// The state machine over `replica`, publishing the commit watermark to `commit`.
    pub fn new(replica: Arc<ReplicaLog>, commit: watch::Sender<u64>) -> PartitionMachine {
        let state = replica.state().get();
        // What was applied before a restart is committed: readers may see it at once,
        // before a leader is elected again.
        if let Some(slot) = state.applied.and_then(|a| replica.slot(a.index)) {
            commit.send_if_modified(|c| {
                let moved = slot.next_offset > *c;
                *c = (*c).max(slot.next_offset);
                moved
            });
        }
        PartitionMachine {
            replica,
            commit,
            applied: state.applied,
            membership: state.membership,
            saved_at: Instant::now(),
        }
    }

    fn save(&mut self) -> Result<(), StorageError> {
        let (applied, membership) = (self.applied, self.membership.clone());
        self.replica
            .state()
            .update(|s| {
                s.applied = applied;
                s.membership = membership;
            })
            .map_err(|e| StorageIOError::write_state_machine(AnyError::new(&e)))?;
        self.saved_at = Instant::now();
        Ok(())
    }

    /// A snapshot at the commit watermark, with the producer state as of it (read
    /// from the log's producer snapshots and batch headers, off the async threads).
    async fn snapshot(&self) -> Snapshot<GroupConfig> {
        let next_offset = *self.commit.borrow();
        let replica = Arc::clone(&self.replica);
        let producers = blocking(move || Ok(replica.log().producer_snapshot_at(next_offset)))
            .await
            .ok()
            .map(|bytes| BASE64.encode(bytes));
        let data = PartitionSnapshot {
            next_offset,
            producers,
        };
        let data = serde_json::to_vec(&data).unwrap_or_default();
        snapshot_of(self.applied, &self.membership, data)
    }
}

/// A snapshot of a machine that applied up to `applied`, with `membership`, holding
/// `data`.
pub fn snapshot_of(
    applied: Option<LogId>,
    membership: &StoredMembership,
    data: Vec<u8>,
) -> Snapshot<GroupConfig> {
    let id = applied.map_or_else(
        || "none".to_string(),
        |l| format!("{}-{}", l.leader_id.term, l.index),
    );
    Snapshot {
        meta: SnapshotMeta {
            last_log_id: applied,
            last_membership: membership.clone(),
            snapshot_id: id,
        },
        snapshot: Box::new(Cursor::new(data)),
    }
}

/// Builds snapshots from a copy of a machine's state taken when asked (or reports
/// why that copy could not be taken).
pub struct SnapshotBuilder(Result<Snapshot<GroupConfig>, Option<StorageError>>);

impl SnapshotBuilder {
    /// A builder that hands out copies of `snapshot`.
    pub fn of(snapshot: Snapshot<GroupConfig>) -> SnapshotBuilder {
        SnapshotBuilder(Ok(snapshot))
    }

    /// A builder that fails with `error`.
    pub fn failed(error: StorageError) -> SnapshotBuilder {
        SnapshotBuilder(Err(Some(error)))
    }
}

impl RaftSnapshotBuilder<GroupConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<GroupConfig>, StorageError> {
        match &mut self.0 {
            Ok(Snapshot { meta, snapshot }) => Ok(Snapshot {
                meta: meta.clone(),
                snapshot: Box::new(Cursor::new(snapshot.get_ref().clone())),
            }),
            Err(error) => Err(error.take().unwrap_or_else(|| {
                StorageIOError::write_snapshot(None, AnyError::error("the snapshot failed")).into()
            })),
        }
    }
}

impl RaftStateMachine<GroupConfig> for PartitionMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((self.applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Outcome>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut out = Vec::new();
        let mut membership_changed = false;
        for entry in entries {
            out.push(match &entry.payload {
                EntryPayload::Normal(proposal) => {
                    batch_v2::unchecked_header(&proposal.0).map_or(Outcome::Nothing, |h| {
                        Outcome::Appended(Applied {
                            base_offset: h.base_offset,
                            last_offset: h.last_offset(),
                            max_timestamp_ms: h.max_timestamp,
                        })
                    })
                }
                EntryPayload::Membership(m) => {
                    self.membership = StoredMembership::new(Some(entry.log_id), m.clone());
                    membership_changed = true;
                    Outcome::Nothing
                }
                EntryPayload::Blank => Outcome::Nothing,
            });
            if let Some(slot) = self.replica.slot(entry.log_id.index) {
                self.commit.send_if_modified(|c| {
                    let moved = slot.next_offset > *c;
                    *c = (*c).max(slot.next_offset);
                    moved
                });
            }
            self.applied = Some(entry.log_id);
        }
        if membership_changed || self.saved_at.elapsed() >= SAVE_APPLIED_EVERY {
            let replica = Arc::clone(&self.replica);
            let (applied, membership) = (self.applied, self.membership.clone());
            blocking(move || {
                replica
                    .state()
                    .update(|s| {
                        s.applied = applied;
                        s.membership = membership;
                    })
                    .map_err(|e| StorageIOError::write_state_machine(AnyError::new(&e)).into())
            })
            .await?;
            self.saved_at = Instant::now();
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder::of(self.snapshot().await)
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, openraft::BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data: PartitionSnapshot = serde_json::from_slice(snapshot.get_ref())
            .map_err(|e| StorageIOError::read_snapshot(None, AnyError::new(&e)))?;
        let holds_it = meta.last_log_id.is_none_or(|l| {
            self.replica
                .slot(l.index)
                .is_some_and(|s| s.term == l.leader_id.term && s.next_offset == data.next_offset)
        });
        if let (false, Some(last)) = (holds_it, meta.last_log_id) {
            // The leader no longer holds the entries this replica lacks (retention
            // purged them): the log starts again where the leader's snapshot ends.
            let replica = Arc::clone(&self.replica);
            let membership = meta.last_membership.clone();
            let next_offset = data.next_offset;
            let producers = data.producers.clone();
            blocking(move || replica.reset(last, membership, next_offset, producers)).await?;
            tracing::info!(
                snapshot = %meta.snapshot_id,
                next_offset,
                "started the replica's log again at its leader's snapshot"
            );
        }
        self.applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        self.commit.send_if_modified(|c| {
            let moved = data.next_offset > *c;
            *c = (*c).max(data.next_offset);
            moved
        });
        self.save()
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<GroupConfig>>, StorageError> {
        match self.applied {
            Some(_) => Ok(Some(self.snapshot().await)),
            None => Ok(None),
        }
    }
}
