//! Compaction of the offsets log: newest record per key, tombstones dropped at once.
//! One compaction at a time (the maintenance lock, as for a topic partition): two at
//! once would write the same `.swap` files.

use std::sync::TryLockError;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{GroupStore, GroupStoreError};
use crate::storage::{CompactionConfig, ReadLimits};

impl GroupStore {
    /// Compacts when due, logging a failure rather than returning it: the commits are
    /// safe, and the next request retries.
    pub(super) fn compact_quietly(&self) {
        if let Err(error) = self.compact_if_bloated() {
            tracing::warn!(%error, "compacting consumer-group offsets failed; retried on a later commit");
        }
    }

    /// Compacts when the log holds more than four records per live key (and at least
    /// one sealed segment's worth), keeping replay time and disk use bounded.
    fn compact_if_bloated(&self) -> Result<(), GroupStoreError> {
        let live = self.read_table().len() as u64;
        let appended = self.appended.load(Ordering::Relaxed);
        if appended < 100_000 || appended < live.saturating_mul(4) {
            return Ok(());
        }
        self.compact().map(|_| ())
    }

    /// Compacts now, unless a compaction is already running (then returns false at once).
    pub(super) fn compact(&self) -> Result<bool, GroupStoreError> {
        let _maintenance = match self.maintenance.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return Ok(false),
        };
        let live = self.read_table().len() as u64;
        self.appended.store(live, Ordering::Relaxed);
        self.log.roll()?;
        // Tombstones are dropped at once: the table, not the log, is the source of truth
        // for readers, and a deleted key has no older value left after this pass. A
        // deletion marker is kept until settled (see `codec`), so dropping the
        // tombstones of its keys can never bring back a deleted commit.
        let stats = self.log.compact(CompactionConfig {
            delete_retention: Duration::ZERO,
            ..CompactionConfig::default()
        })?;
        let first_live = self.log.read(
            self.log.log_start_offset(),
            ReadLimits {
                max_records: 1,
                max_bytes: 1,
            },
        )?;
        let start = first_live
            .records
            .first()
            .map_or(first_live.next_offset, |r| r.offset);
        self.log.delete_segments_below(start)?;
        tracing::info!(
            records_removed = stats.records_removed,
            "compacted consumer-group offsets"
        );
        Ok(true)
    }
}
