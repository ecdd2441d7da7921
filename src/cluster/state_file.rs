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
