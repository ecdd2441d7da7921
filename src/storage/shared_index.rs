//! The in-memory index of a segment as the writer and readers share it.
//!
//! The active segment's index grows while consumers tailing it hold it. A copy-on-write
//! vector would copy every entry on each push whenever a reader holds a reference,
//! under the writer lock: quadratic in the segment's size. Entries are only ever
//! appended, so one vector behind a lock serves both: a push is amortised O(1) and
//! waits at most for a lookup's binary search, and a reader holding the index sees
//! every entry added before its lookup.

use std::sync::{PoisonError, RwLock, RwLockReadGuard};

use super::index::{self, IndexEntry};

/// A segment's sparse index: append-only, shared by the writer and readers.
#[derive(Debug, Default)]
pub struct SharedIndex {
    entries: RwLock<Vec<IndexEntry>>,
}

impl SharedIndex {
    /// An index holding `entries` (loaded, rebuilt or recovered).
    pub fn new(entries: Vec<IndexEntry>) -> SharedIndex {
        SharedIndex {
            entries: RwLock::new(entries),
        }
    }

    // Entries are plain values, each push a single step: a panic elsewhere cannot leave
    // them half-changed, so a poisoned lock is still a valid index.
    fn read(&self) -> RwLockReadGuard<'_, Vec<IndexEntry>> {
        self.entries.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends an entry (the writer, as batches are written).
    pub fn push(&self, entry: IndexEntry) {
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(entry);
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// See [`index::position_for_offset`].
    pub fn position_for_offset(&self, rel: u64) -> Option<u32> {
        index::position_for_offset(&self.read(), rel)
    }

    /// See [`index::entry_for_timestamp`].
    pub fn entry_for_timestamp(&self, ts: i64) -> Option<IndexEntry> {
        index::entry_for_timestamp(&self.read(), ts)
    }
}

#[cfg(test)]
mod tests {
    use crate::storage::{FsyncPolicy, Log, LogConfig, LogIdent, Record};

    #[test]
    fn pushes_go_into_the_index_readers_hold_without_copying_it() {
        let dir = tempfile::tempdir().unwrap();
        // An index entry for every batch after the first.
        let config = LogConfig {
            index_interval_bytes: 1,
            fsync: FsyncPolicy::Never,
            ..LogConfig::small()
        };
        let log = Log::open(dir.path(), LogIdent::new("t", 0), config).unwrap();
        log.append(&[Record::text("first")]).unwrap();
        let active = log.segment_list().last().unwrap().clone();
        // A consumer tailing the active segment holds its index across appends.
        let held = active.index().unwrap();
        let before = held.len();
        for i in 0..10 {
            log.append(&[Record::text(&format!("r{i}"))]).unwrap();
        }
        let now = active.index().unwrap();
        assert!(
            std::sync::Arc::ptr_eq(&held, &now),
            "the index was copied while a reader held it"
        );
        assert_eq!(held.len(), before + 10, "the held index sees every push");
    }
}
