//! The metadata group's snapshot on disk: the whole [`ClusterState`] as of one log
//! entry, so that the metadata log (which holds every consumer-group commit) can be
//! purged instead of growing forever.
//!
//! `metadata-snapshot.json` beside the metadata log holds
//! `{"meta": <openraft SnapshotMeta>, "state": <ClusterState>}`. It is written whole
//! and atomically before Raft purges any entry it covers, so a restart starts from it
//! and applies only the entries after it; a node too far behind to be sent the purged
//! entries is sent the snapshot instead.

use std::path::{Path, PathBuf};

use openraft::storage::SnapshotMeta;
use serde::{Deserialize, Serialize};

use super::metadata::ClusterState;
use crate::storage::fsutil;

/// The file's name in the metadata log's directory.
pub const SNAPSHOT_FILE: &str = "metadata-snapshot.json";

/// A snapshot as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredSnapshot {
    /// The last entry it covers and the membership as of it.
    pub meta: SnapshotMeta<u64, openraft::BasicNode>,
    /// The metadata as of that entry.
    pub state: ClusterState,
}

/// Where `dir`'s snapshot lives.
pub fn path_in(dir: &Path) -> PathBuf {
    dir.join(SNAPSHOT_FILE)
}

/// Writes `snapshot` to `dir` atomically (the old one stays whole until the rename).
pub fn save(dir: &Path, snapshot: &StoredSnapshot) -> Result<(), String> {
    let bytes = serde_json::to_vec(snapshot).map_err(|e| e.to_string())?;
    let path = path_in(dir);
    fsutil::write_atomic(&path, &bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// The snapshot stored in `dir`, if any. A file that does not parse is an error: the
/// entries it covers may be purged, so starting without it would lose metadata.
pub fn load(dir: &Path) -> Result<Option<StoredSnapshot>, String> {
    let path = path_in(dir);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_snapshot_is_these_golden_bytes_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_none());
        let mut state = ClusterState::default();
        state.groups.entry("g".into()).or_default();
        let snapshot = StoredSnapshot {
            meta: SnapshotMeta {
                last_log_id: Some(super::super::index_map::log_id(2, 9)),
                last_membership: Default::default(),
                snapshot_id: "2-9".into(),
            },
            state: state.clone(),
        };
        save(dir.path(), &snapshot).unwrap();
        let loaded = load(dir.path()).unwrap().unwrap();
        assert_eq!(loaded.state, state);
        assert_eq!(loaded.meta.last_log_id, snapshot.meta.last_log_id);
        // The bytes storage-format.md documents (version 7).
        let golden = r#"{"meta":{"last_log_id":{"leader_id":2,"index":9},"last_membership":{"log_id":null,"membership":{"configs":[],"nodes":{}}},"snapshot_id":"2-9"},"state":{"topics":{},"groups":{"g":{}}}}"#;
        assert_eq!(
            std::fs::read_to_string(path_in(dir.path())).unwrap(),
            golden
        );
        std::fs::write(path_in(dir.path()), b"{").unwrap();
        assert!(load(dir.path()).is_err(), "a damaged snapshot is an error");
    }
}
