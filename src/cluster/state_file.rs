//! A group's small durable state beside its log: the vote, the anchor that numbers
//! the log's batches, the last purged entry, and what the state machine applied.
//!
//! Written whole and atomically (`raft-state.json`, replaced by rename after an
//! fsync), so a crash leaves the old or the new state. The vote must be durable
//! before a node answers a vote request; the applied position may lag (entries after
//! it are applied again at start, which only moves the commit watermark forward).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};

use super::types::{LogId, StoredMembership, Vote};
use crate::storage::fsutil;

/// The file's name inside the partition directory.
pub const FILE_NAME: &str = "raft-state.json";

/// Where the numbering of a log's batches starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// The Raft index of the batch at `base_offset`.
    pub index: u64,
    /// The base offset of that batch (or the log's next offset when it is yet to come).
    pub base_offset: u64,
}

/// Everything the file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupState {
    /// The last vote this node cast or saw.
    pub vote: Option<Vote>,
    /// The numbering of the log's batches; `None` before the first entry arrives.
    pub anchor: Option<Anchor>,
    /// The last entry Raft purged.
    pub purged: Option<LogId>,
    /// The last entry applied to the state machine (possibly older than the truth).
    pub applied: Option<LogId>,
    /// The membership as of `applied`.
    pub membership: StoredMembership,
    /// The last committed entry, stored only by groups whose state machine is rebuilt
    /// by applying the log again at start (the metadata group).
    #[serde(default)]
    pub committed: Option<LogId>,
    /// A reset of the log to a leader's snapshot that was begun and must be finished
    /// before the log is used (see [`PendingReset`]); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<PendingReset>,
}

/// A replica's log being started again after a snapshot it did not hold the entries
/// of: stored before the log is emptied, cleared once the state names the new start,
/// so a crash in between is finished at the next open instead of leaving the numbering
/// and the log disagreeing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingReset {
    /// The snapshot's last entry: the log starts again after it.
    pub last: LogId,
    /// The snapshot's membership.
    pub membership: StoredMembership,
    /// The offset the log starts again at.
    pub next_offset: u64,
    /// The producer state as of `next_offset` that the leader sent with its snapshot:
    /// a producer snapshot (`storage-format.md`, "Producer snapshot") in base64, since
    /// version 12; absent when none came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producers: Option<String>,
}

/// The state file of one group, loaded once and rewritten on each change.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    state: Mutex<GroupState>,
}

impl StateFile {
    /// Loads the state in `dir` (a fresh state when the file does not exist).
    pub fn load(dir: &Path) -> std::io::Result<StateFile> {
        let path = dir.join(FILE_NAME);
        let state = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => GroupState::default(),
            Err(e) => return Err(e),
        };
        Ok(StateFile {
            path,
            state: Mutex::new(state),
        })
    }

    /// A copy of the current state.
    pub fn get(&self) -> GroupState {
        self.lock().clone()
    }

    /// Changes the state with `change` and stores it durably before returning.
    pub fn update(&self, change: impl FnOnce(&mut GroupState)) -> std::io::Result<()> {
        let mut state = self.lock();
        let mut next = state.clone();
        change(&mut next);
        if next == *state {
            return Ok(());
        }
        let bytes = serde_json::to_vec_pretty(&next).map_err(std::io::Error::other)?;
        fsutil::write_atomic(&self.path, &bytes)?;
        *state = next;
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, GroupState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::index_map::log_id;

    /// A version 7 file (no `reset`), as written before resets existed.
    const VERSION_7: &str = r#"{"vote":null,"anchor":{"index":5,"base_offset":40},"purged":{"leader_id":2,"index":4},"applied":{"leader_id":2,"index":9},"membership":{"log_id":null,"membership":{"configs":[],"nodes":{}}},"committed":null}"#;

    #[test]
    fn an_older_state_file_opens_without_a_reset() {
        let state: GroupState = serde_json::from_str(VERSION_7).unwrap();
        assert_eq!(state.reset, None);
        assert_eq!(
            state.anchor,
            Some(Anchor {
                index: 5,
                base_offset: 40
            })
        );
        // Written back unchanged while no reset is under way.
        assert_eq!(serde_json::to_string(&state).unwrap(), VERSION_7);
    }

    /// Pins the JSON of a pending reset (`storage-format.md`, "Replica logs").
    #[test]
    fn a_pending_reset_is_stored_as_documented() {
        let state = GroupState {
            reset: Some(PendingReset {
                last: log_id(3, 120),
                membership: StoredMembership::default(),
                next_offset: 4_000,
                producers: None,
            }),
            ..GroupState::default()
        };
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(
            json,
            r#"{"vote":null,"anchor":null,"purged":null,"applied":null,"membership":{"log_id":null,"membership":{"configs":[],"nodes":{}}},"committed":null,"reset":{"last":{"leader_id":3,"index":120},"membership":{"log_id":null,"membership":{"configs":[],"nodes":{}}},"next_offset":4000}}"#
        );
        let back: GroupState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, state);
    }

    /// Pins the JSON of a pending reset that carries its leader's producer state
    /// (version 12), and shows a version 11 reset (none) still reads.
    #[test]
    fn a_pending_reset_with_producer_state_is_stored_as_documented() {
        let pending = PendingReset {
            last: log_id(3, 120),
            membership: StoredMembership::default(),
            next_offset: 4_000,
            producers: Some("RVZMUFJEMDE=".into()),
        };
        let json = serde_json::to_string(&pending).unwrap();
        assert_eq!(
            json,
            r#"{"last":{"leader_id":3,"index":120},"membership":{"log_id":null,"membership":{"configs":[],"nodes":{}}},"next_offset":4000,"producers":"RVZMUFJEMDE="}"#
        );
        assert_eq!(
            serde_json::from_str::<PendingReset>(&json).unwrap(),
            pending
        );
        let version_11 = json.replace(r#","producers":"RVZMUFJEMDE=""#, "");
        let old: PendingReset = serde_json::from_str(&version_11).unwrap();
        assert_eq!(old.producers, None);
    }
}
