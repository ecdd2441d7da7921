//! Raft's state machine for the metadata group: applies [`Command`]s to the
//! [`ClusterState`] and publishes each new state to the node's watchers.
//!
//! The state lives in memory. A snapshot is the whole state as JSON, stored in
//! [`super::metadata_snapshot`] before Raft purges the entries it covers; at start the
//! machine loads it and the group applies the entries after it again (it stores its
//! commit index, so a restarted node re-applies everything committed before it
//! stopped).

use std::io::Cursor;
use std::path::{Path, PathBuf};

use openraft::storage::{RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{AnyError, EntryPayload, OptionalSend, StorageIOError};
use tokio::sync::{mpsc, watch};

use super::group_offsets::{GroupChange, IndexedChange};
use super::metadata::{ClusterState, Command};
use super::metadata_snapshot::{self, StoredSnapshot};
use super::state_machine::{SnapshotBuilder, snapshot_of};
use super::types::{Entry, GroupConfig, LogId, Outcome, StorageError, StoredMembership};
use crate::storage::RawBatch;
use crate::storage::batch::{self, BatchFormat};
use crate::storage::batch_v2;

/// The metadata group's state machine.
pub struct MetadataMachine {
    /// Where the snapshot file lives.
    dir: PathBuf,
    state: ClusterState,
    applied: Option<LogId>,
    membership: StoredMembership,
    publish: watch::Sender<(ClusterState, StoredMembership)>,
    /// Group changes, in apply order, for the node's group store.
    group_changes: mpsc::UnboundedSender<IndexedChange>,
}

impl MetadataMachine {
    /// The machine of the metadata log in `dir`, starting from the snapshot stored
    /// there (if any), publishing its state to `publish` and its group changes to
    /// `group_changes`.
    pub fn open(
        dir: &Path,
        publish: watch::Sender<(ClusterState, StoredMembership)>,
        group_changes: mpsc::UnboundedSender<IndexedChange>,
    ) -> Result<MetadataMachine, String> {
        let mut machine = MetadataMachine {
            dir: dir.to_path_buf(),
            state: ClusterState::default(),
            applied: None,
            membership: StoredMembership::default(),
            publish,
            group_changes,
        };
        if let Some(stored) = metadata_snapshot::load(dir)? {
            machine.restore(stored);
        }
        Ok(machine)
    }

    /// Makes `stored` the state, and has the group store's mirror match it.
    fn restore(&mut self, stored: StoredSnapshot) {
        self.state = stored.state;
        self.applied = stored.meta.last_log_id;
        self.membership = stored.meta.last_membership;
        let index = self.applied.map_or(0, |id| id.index);
        self.mirror(index, GroupChange::Reset(self.state.groups.clone()));
        self.publish();
    }

    /// The state as a stored snapshot, written to disk before it is handed to Raft
    /// (which may purge the entries it covers once it has it).
    fn save_snapshot(&self) -> Result<Snapshot<GroupConfig>, StorageError> {
        let snapshot = self.snapshot();
        let stored = StoredSnapshot {
            meta: snapshot.meta.clone(),
            state: self.state.clone(),
        };
        metadata_snapshot::save(&self.dir, &stored).map_err(|e| {
            StorageIOError::write_snapshot(Some(snapshot.meta.signature()), AnyError::error(e))
        })?;
        Ok(snapshot)
    }

    /// Hands `change` to the group store's mirror. Nobody listening (the node is
    /// shutting down) loses nothing: the log holds the change.
    fn mirror(&self, index: u64, change: GroupChange) {
        let _ = self.group_changes.send((index, change));
    }

    fn snapshot(&self) -> Snapshot<GroupConfig> {
        let data = serde_json::to_vec(&self.state).unwrap_or_default();
        snapshot_of(self.applied, &self.membership, data)
    }

    fn publish(&self) {
        self.publish
            .send_replace((self.state.clone(), self.membership.clone()));
    }
}

/// The command a metadata batch holds.
pub fn command_of(bytes: &[u8]) -> Result<Command, String> {
    let header = batch_v2::unchecked_header(bytes).ok_or("not a batch")?;
    let raw = RawBatch {
        header,
        format: BatchFormat::V2,
        bytes: bytes::Bytes::copy_from_slice(bytes),
    };
    let records = batch::records(raw.format, &raw.bytes, &raw.header).map_err(|f| f.to_string())?;
    let record = records
        .iter()
        .next()
        .ok_or("no record")?
        .map_err(|f| f.to_string())?
        .to_record();
    let value = record.value.ok_or("no value")?;
    serde_json::from_slice(&value).map_err(|e| e.to_string())
}

impl RaftStateMachine<GroupConfig> for MetadataMachine {
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
        for entry in entries {
            out.push(match &entry.payload {
                EntryPayload::Normal(proposal) => {
                    let command = command_of(&proposal.0)
                        .map_err(|e| StorageIOError::apply(entry.log_id, AnyError::error(e)))?;
                    let (result, change) = self.state.apply(command);
                    if let Some(change) = change {
                        self.mirror(entry.log_id.index, change);
                    }
                    Outcome::Metadata(result)
                }
                EntryPayload::Membership(m) => {
                    self.membership = StoredMembership::new(Some(entry.log_id), m.clone());
                    Outcome::Nothing
                }
                EntryPayload::Blank => Outcome::Nothing,
            });
            self.applied = Some(entry.log_id);
        }
        self.publish();
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        match self.save_snapshot() {
            Ok(snapshot) => SnapshotBuilder::of(snapshot),
            Err(error) => SnapshotBuilder::failed(error),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, openraft::BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let state: ClusterState = serde_json::from_slice(snapshot.get_ref())
            .map_err(|e| StorageIOError::read_snapshot(None, AnyError::new(&e)))?;
        let stored = StoredSnapshot {
            meta: meta.clone(),
            state,
        };
        metadata_snapshot::save(&self.dir, &stored).map_err(|e| {
            StorageIOError::write_snapshot(Some(meta.signature()), AnyError::error(e))
        })?;
        self.restore(stored);
        tracing::info!(snapshot = %meta.snapshot_id, "installed a metadata snapshot sent by the leader");
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<GroupConfig>>, StorageError> {
        Ok(self.applied.is_some().then(|| self.snapshot()))
    }
}
