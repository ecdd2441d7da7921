//! Raft's log storage for a group, over the replica's partition log
//! ([`ReplicaLog`]): entries are appended as batches, read back as entries, truncated
//! with the storage engine's own truncation, and purged segment by segment.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, OptionalSend, RaftLogReader, StorageIOError};

use super::replica_log::{MAX_READ_BYTES, ReplicaLog};
use super::types::{Entry, GroupConfig, LogId, StorageError, Vote};

/// The log storage (and log reader) of one group.
#[derive(Clone)]
pub struct LogStore {
    replica: Arc<ReplicaLog>,
}

impl LogStore {
    /// The store over `replica`.
    pub fn new(replica: Arc<ReplicaLog>) -> LogStore {
        LogStore { replica }
    }
}

/// Runs `work`, which blocks on the disk, on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StorageIOError::write(AnyError::error(e.to_string())))?
}

fn bounds(range: &impl RangeBounds<u64>) -> (u64, u64) {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s + 1,
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e + 1,
        Bound::Excluded(&e) => e,
        Bound::Unbounded => u64::MAX,
    };
    (start, end)
}

impl RaftLogReader<GroupConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let (start, end) = bounds(&range);
        let replica = Arc::clone(&self.replica);
        blocking(move || replica.read(start, end, usize::MAX)).await
    }

    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>, StorageError> {
        let replica = Arc::clone(&self.replica);
        blocking(move || replica.read(start, end, MAX_READ_BYTES)).await
    }
}

impl RaftLogStorage<GroupConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<GroupConfig>, StorageError> {
        let purged = self.replica.state().get().purged;
        let last = self.replica.map().last_log_id().or(purged);
        Ok(LogState {
            last_purged_log_id: purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let replica = Arc::clone(&self.replica);
        let vote = *vote;
        blocking(move || {
            replica
                .state()
                .update(|s| s.vote = Some(vote))
                .map_err(|e| StorageIOError::write_vote(AnyError::new(&e)).into())
        })
        .await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.replica.state().get().vote)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<GroupConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let replica = Arc::clone(&self.replica);
        let result = blocking(move || replica.append(&entries)).await;
        callback.log_io_completed(
            result
                .as_ref()
                .map(|_| ())
                .map_err(|e| std::io::Error::other(e.to_string())),
        );
        result
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let replica = Arc::clone(&self.replica);
        blocking(move || replica.truncate(log_id)).await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let replica = Arc::clone(&self.replica);
        blocking(move || replica.purge(log_id)).await
    }
}
