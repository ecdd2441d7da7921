//! Durable consumer-group offsets: an append-only, CRC-checked log (a storage
//! [`Log`] in `<data-dir>/groups/`) of commit records, plus the in-memory table it
//! replays into on open.
//!
//! - [`codec`]: the records. Each commit request is one batch, so a request's
//!   partitions commit together or not at all. Deleting a group or a topic is one
//!   marker record, so it is atomic whatever its size; per-key tombstones follow it
//!   only so that compaction can reclaim the space.
//! - `table`: the in-memory table; `replay`: rebuilding it at open.
//! - `round`: group commit. Commits and deletions queue; one thread at a time leads a
//!   round, writing every queued request and then one `fdatasync` for all of them, so
//!   concurrent commits of different groups share syncs as appends to a partition do.
//!   The table is updated in log order once the round is durable, and its lock is
//!   never held across I/O.
//! - `compact`: compaction (newest record per key) when the log's sealed part grows
//!   past a few times the live table, so disk use and the replay at start-up stay
//!   proportional to the live keys; one compaction at a time.
//! - `expiry`: idle groups are removed after the retention; the number of groups is
//!   capped. `activity`: groups in use by members are not idle.

mod activity;
mod codec;
mod compact;
mod expiry;
mod replay;
mod round;
mod table;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};
use std::time::Duration;

use crate::storage::{
    AppendError, FsyncPolicy, Log, LogConfig, LogIdent, MaintenanceError, OpenError, ReadError,
};
pub use activity::ActivityProbe;
pub use codec::Scope;
use replay::Unsettled;
use round::{Done, Op, Queue, Removal};
use table::Table;

/// Longest group name accepted, in bytes.
pub const MAX_GROUP_NAME_BYTES: usize = 255;
/// Longest metadata string accepted, in bytes.
pub const MAX_METADATA_BYTES: usize = 4096;
/// Default [`GroupStoreConfig::retention`]: Kafka's `offsets.retention.minutes`, 7 days.
pub const DEFAULT_GROUP_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// Default [`GroupStoreConfig::max_groups`].
pub const DEFAULT_MAX_GROUPS: usize = 100_000;

/// The key of one committed position.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKey {
    /// Consumer group.
    pub group: String,
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
}

/// What a group committed for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The next offset the group will read (one past the last processed record).
    pub next_offset: u64,
    /// Free-form metadata given with the commit.
    pub metadata: String,
    /// When the commit was stored, ms since the epoch.
    pub commit_time_ms: i64,
}

/// Settings of a [`GroupStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupStoreConfig {
    /// Durability of commits, as for records.
    pub fsync: FsyncPolicy,
    /// A group none of whose commits is newer than this is removed; zero keeps groups
    /// forever. Default [`DEFAULT_GROUP_RETENTION`].
    pub retention: Duration,
    /// Most groups with commits; a commit that would create one more is refused with
    /// [`GroupStoreError::TooManyGroups`]. Default [`DEFAULT_MAX_GROUPS`].
    pub max_groups: usize,
}

impl Default for GroupStoreConfig {
    fn default() -> Self {
        GroupStoreConfig {
            fsync: FsyncPolicy::Always,
            retention: DEFAULT_GROUP_RETENTION,
            max_groups: DEFAULT_MAX_GROUPS,
        }
    }
}

/// A group-store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum GroupStoreError {
    /// Opening the offsets log failed.
    #[error("opening consumer-group offsets: {0}")]
    Open(#[from] OpenError),
    /// Appending to the offsets log failed; the commit did not happen.
    #[error("storing consumer-group offsets: {0}")]
    Append(#[from] AppendError),
    /// Replaying the offsets log failed.
    #[error("reading consumer-group offsets: {0}")]
    Read(#[from] ReadError),
    /// Compacting the offsets log failed (the commits are safe).
    #[error("compacting consumer-group offsets: {0}")]
    Compact(#[from] MaintenanceError),
    /// A stored record does not decode (it passed its CRC, so this is a bug or a foreign record).
    #[error("consumer-group offsets record at offset {offset} is malformed")]
    Malformed {
        /// Its offset in the offsets log.
        offset: u64,
    },
    /// The commit would create a group beyond the cap.
    #[error(
        "consumer group {group:?} not created: the server already holds its limit of {max} groups (--max-groups); delete unused groups or raise the limit"
    )]
    TooManyGroups {
        /// The group the commit would have created (cut to 64 characters).
        group: String,
        /// The cap.
        max: usize,
    },
    /// The thread storing this request's round stopped before reporting (a bug); the
    /// request may or may not be stored.
    #[error("consumer-group offsets: the write of this request was interrupted")]
    Interrupted,
}

/// Current time in ms since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64
}

/// The clock expiry reads, in ms since the epoch (replaceable in tests).
type Clock = Box<dyn Fn() -> i64 + Send + Sync>;

/// The consumer-group offsets of a broker.
pub struct GroupStore {
    log: Log,
    config: GroupStoreConfig,
    clock: Clock,
    table: RwLock<Table>,
    /// Records appended since the last compaction (or replayed at open).
    appended: AtomicU64,
    /// Requests waiting for a round, and the results of finished rounds.
    queue: Mutex<Queue>,
    /// Signalled when a round ends.
    round_done: Condvar,
    /// Deletions whose tombstones are not all written yet (touched by round leaders).
    unsettled: Mutex<Unsettled>,
    /// Held while compacting: one compaction at a time.
    maintenance: Mutex<()>,
    /// When idle groups were last looked for, ms since the epoch.
    last_expiry_ms: Mutex<Option<i64>>,
    /// Membership's view of which groups are in use (see `activity`).
    activity: RwLock<Option<ActivityProbe>>,
}

impl GroupStore {
    /// Opens (creating if needed) the offsets log in `dir` and replays it.
    pub fn open(dir: &Path, config: GroupStoreConfig) -> Result<GroupStore, GroupStoreError> {
        Self::open_with_clock(dir, config, Box::new(now_ms))
    }

    fn open_with_clock(
        dir: &Path,
        config: GroupStoreConfig,
        clock: Clock,
    ) -> Result<GroupStore, GroupStoreError> {
        let log_config = LogConfig {
            segment_bytes: 16 << 20,
            // Under `always` the rounds sync themselves: one sync for a whole round
            // instead of one per request (see `round`).
            fsync: match config.fsync {
                FsyncPolicy::Always => FsyncPolicy::Never,
                other => other,
            },
            ..LogConfig::default()
        };
        let log = Log::open(dir, LogIdent::new("__consumer_offsets", 0), log_config)?;
        let (table, records, unsettled) = replay::replay(&log)?;
        tracing::info!(
            keys = table.len(),
            groups = table.group_count(),
            records,
            "consumer-group offsets loaded"
        );
        let store = GroupStore {
            log,
            config,
            clock,
            table: RwLock::new(table),
            appended: records.into(),
            queue: Mutex::new(Queue::default()),
            round_done: Condvar::new(),
            unsettled: Mutex::new(unsettled),
            maintenance: Mutex::new(()),
            last_expiry_ms: Mutex::new(None),
            activity: RwLock::new(None),
        };
        // The commits are all loaded; a compaction that fails (a full disk, a damaged
        // batch in the log) must not keep the server from starting. It is retried on a
        // later commit.
        store.compact_quietly();
        Ok(store)
    }

    /// Stores `entries` for `group`/`topic` in one durable batch (all or nothing).
    /// Refused with [`GroupStoreError::TooManyGroups`] when it would create a group
    /// beyond the cap.
    pub fn commit(
        &self,
        group: &str,
        topic: &str,
        entries: &[(u32, u64, String)],
        now_ms: i64,
    ) -> Result<(), GroupStoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let commits = entries
            .iter()
            .map(|(partition, next_offset, metadata)| {
                let key = GroupKey {
                    group: group.into(),
                    topic: topic.into(),
                    partition: *partition,
                };
                let value = Committed {
                    next_offset: *next_offset,
                    metadata: metadata.clone(),
                    commit_time_ms: now_ms,
                };
                (key, value)
            })
            .collect();
        self.submit(Op::Commit(commits))?;
        Ok(())
    }

    /// The commits of `group` for `topic`, by partition.
    pub fn committed(&self, group: &str, topic: &str) -> BTreeMap<u32, Committed> {
        self.read_table().committed(group, topic)
    }

    /// Every commit of `group`, by key.
    pub fn group(&self, group: &str) -> Vec<(GroupKey, Committed)> {
        self.read_table().group(group)
    }

    /// Names of every group with at least one commit, in name order.
    pub fn groups(&self) -> Vec<String> {
        self.summaries()
            .into_iter()
            .map(|(group, _)| group)
            .collect()
    }

    /// Every group with the topics it committed for, in name order (linear in the keys).
    pub fn summaries(&self) -> Vec<(String, Vec<String>)> {
        self.read_table().summaries()
    }

    /// Every topic some group committed for.
    pub fn topics(&self) -> std::collections::BTreeSet<String> {
        self.read_table().topics()
    }

    /// How many groups have commits.
    pub fn group_count(&self) -> usize {
        self.read_table().group_count()
    }

    /// Removes every commit of `group` in one atomic step; returns how many keys went.
    pub fn delete_group(&self, group: &str) -> Result<usize, GroupStoreError> {
        self.delete(Scope::Group(group.to_string()))
    }

    /// Removes every group's commits for `topic` (the topic is being deleted) in one
    /// atomic step: after a crash or a failure, either all of them are gone or none.
    pub fn delete_topic(&self, topic: &str) -> Result<usize, GroupStoreError> {
        self.delete(Scope::Topic(topic.to_string()))
    }

    fn delete(&self, scope: Scope) -> Result<usize, GroupStoreError> {
        match self.submit(Op::Remove(Removal::Scope(scope)))? {
            Done::Removed { keys, .. } => Ok(keys),
            Done::Stored => Ok(0),
        }
    }

    /// Housekeeping for the offsets log (age rolls, interval fsync) and the removal of
    /// idle groups (at most once a minute).
    pub fn tick(&self) {
        if let Err(error) = self.log.tick() {
            tracing::warn!(%error, "consumer-group offsets housekeeping failed");
        }
        self.expire_if_due();
    }

    /// Flushes and closes the offsets log.
    pub fn close(&self) {
        if let Err(error) = self.log.close() {
            tracing::warn!(%error, "closing consumer-group offsets failed");
        }
    }

    fn read_table(&self) -> RwLockReadGuard<'_, Table> {
        // The table is only changed in memory, in whole steps: still usable after a panic.
        self.table.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Locks `mutex`, taking over a lock poisoned by a panic (its data is whole: every
/// guarded change here is a single assignment or collection update).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod power_loss;
