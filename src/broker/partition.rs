//! One partition of a topic: its log and the notifier that wakes readers when the high
//! watermark moves.
//!
//! Every method here is blocking (it may fdatasync or fault in mapped pages); the broker
//! runs them on the blocking thread pool. The log sits behind a `RwLock<Option<Log>>` so
//! that closing (topic deletion, shutdown) waits for appends in flight to finish and
//! later calls see a clean "closed" error instead of a dangling log.
//!
//! A partition whose log failed to open at start-up is **unavailable**: it holds no log
//! and every call fails with [`BrokerError::PartitionUnavailable`], naming the partition
//! and the cause, while the other partitions serve.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, RwLock, RwLockReadGuard};

use tokio::sync::{mpsc, watch};

use super::clean_mark::CleanMark;
use super::error::BrokerError;
use crate::storage::client_batch::CheckedBatch;
use crate::storage::producer_state::ProducerBatch;
use crate::storage::{
    AppendInfo, Log, LogIdent, LogStats, RawRead, ReadError, ReadLimits, ReadOutcome, Record,
};

/// What readers waiting on a partition observe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// One past the last durable offset.
    pub high_watermark: u64,
    /// False once the partition was closed; waiters must stop waiting.
    pub open: bool,
}

/// How a partition of a replicated topic is served here.
#[derive(Debug, Clone)]
pub enum Replication {
    /// This node holds a replica: readers see what its group committed, never more.
    Replica(watch::Receiver<u64>),
    /// This node holds no replica: it reads nothing locally, for the reason given.
    Elsewhere(String),
}

/// A partition: log plus high-watermark notifier.
pub struct Partition {
    ident: LogIdent,
    log: RwLock<Option<Arc<Log>>>,
    /// Set for a partition of a replicated topic (see [`Replication`]); changes when
    /// the partition's replicas move onto this node or away from it.
    replication: RwLock<Option<Replication>>,
    /// Where retention sends the offset a replica's log may start at (set once its
    /// replica runs; see [`Partition::request_trim`]).
    trimmer: OnceLock<mpsc::UnboundedSender<u64>>,
    progress: watch::Sender<Progress>,
    /// Serializes retention and compaction of this partition (two rewrites at once would
    /// write the same `.swap` files) and holds the compaction bookkeeping.
    maintenance: Mutex<CleanMark>,
    /// Why the log could not be opened, for a partition that started unavailable.
    unavailable: Option<String>,
    /// Set when closing begins, so a compaction under way stops instead of making the
    /// close (and a topic deletion) wait for it.
    closing: AtomicBool,
}

impl Partition {
    /// Wraps an opened log.
    pub fn new(log: Log) -> Partition {
        let ident = log.ident().clone();
        let progress = Progress {
            high_watermark: log.high_watermark(),
            open: true,
        };
        let maintenance = Mutex::new(CleanMark::load(log.dir()));
        Partition {
            ident,
            maintenance,
            closing: AtomicBool::new(false),
            log: RwLock::new(Some(Arc::new(log))),
            replication: RwLock::new(None),
            trimmer: OnceLock::new(),
            progress: watch::Sender::new(progress),
            unavailable: None,
        }
    }

    /// A partition whose log in `dir` could not be opened, because of `reason`: it
    /// stays unavailable until a restart opens it.
    pub fn unavailable(ident: LogIdent, dir: &Path, reason: String) -> Partition {
        let progress = Progress {
            high_watermark: 0,
            open: false,
        };
        Partition {
            ident,
            maintenance: Mutex::new(CleanMark::load(dir)),
            log: RwLock::new(None),
            replication: RwLock::new(None),
            trimmer: OnceLock::new(),
            progress: watch::Sender::new(progress),
            unavailable: Some(reason),
            closing: AtomicBool::new(false),
        }
    }

    /// Why the partition is unavailable, if its log could not be opened.
    pub fn unavailable_reason(&self) -> Option<&str> {
        self.unavailable.as_deref()
    }

    /// The partition number.
    pub fn number(&self) -> u32 {
        self.ident.partition
    }

    /// The error for using this partition after [`Partition::close`], or for using
    /// it at all when it is unavailable.
    pub fn closed_error(&self) -> BrokerError {
        match &self.unavailable {
            Some(reason) => BrokerError::PartitionUnavailable {
                topic: self.ident.topic.clone(),
                partition: self.ident.partition,
                reason: reason.clone(),
            },
            None => BrokerError::PartitionClosed {
                topic: self.ident.topic.clone(),
                partition: self.ident.partition,
            },
        }
    }

    /// A receiver that sees every high-watermark move and the close.
    pub fn watch(&self) -> watch::Receiver<Progress> {
        self.progress.subscribe()
    }

    /// The high watermark as last published (never ahead of the log's).
    pub fn high_watermark(&self) -> u64 {
        self.progress.borrow().high_watermark
    }

    /// Appends `records` (optionally only at `expected_next_offset`) and wakes waiters.
    pub fn append(
        &self,
        records: &[Record],
        expected: Option<u64>,
    ) -> Result<AppendInfo, BrokerError> {
        self.append_as(records, expected, None)
    }

    /// [`Partition::append`], as a batch of the idempotent `producer` when given (see
    /// [`Log::append_idempotent`](crate::storage::Log::append_idempotent)).
    pub fn append_as(
        &self,
        records: &[Record],
        expected: Option<u64>,
        producer: Option<ProducerBatch>,
    ) -> Result<AppendInfo, BrokerError> {
        if self.is_replicated() {
            // Replicas write only what their group commits.
            return Err(BrokerError::Internal(format!(
                "partition {} is replicated: its writes go through its replication group",
                self.ident
            )));
        }
        let guard = self.guard();
        let log = self.log_in(&guard)?;
        let result = match (producer, expected) {
            (Some(producer), _) => log.append_idempotent(records, producer, expected),
            (None, Some(expected)) => log.append_expecting(records, expected),
            (None, None) => log.append(records),
        };
        let info = result.map_err(|source| BrokerError::Append {
            topic: self.ident.topic.clone(),
            partition: self.ident.partition,
            source: Box::new(source),
        })?;
        self.publish(log.high_watermark());
        Ok(info)
    }

    /// Reads from `offset` within `limits`.
    pub fn read(&self, offset: u64, limits: ReadLimits) -> Result<ReadOutcome, BrokerError> {
        let guard = self.guard();
        let log = self.log_in(&guard)?;
        match self.commit_bound()? {
            Some(bound) => log.read_below(offset, limits, bound),
            None => log.read(offset, limits),
        }
        .map_err(|source| self.read_error(source))
    }

    /// Reads whole stored batches from `offset` within `limits` (see
    /// [`Log::read_raw`]), below the commit watermark on a replica.
    pub fn read_raw(&self, offset: u64, limits: ReadLimits) -> Result<RawRead, BrokerError> {
        let guard = self.guard();
        let log = self.log_in(&guard)?;
        log.read_raw(offset, limits, self.commit_bound()?)
            .map_err(|source| self.read_error(source))
    }

    /// Appends a producer-built batch that passed its checks and wakes waiters.
    pub fn append_client_batch(
        &self,
        batch: &mut [u8],
        checked: &CheckedBatch,
        expected: Option<u64>,
    ) -> Result<AppendInfo, BrokerError> {
        if self.is_replicated() {
            return Err(BrokerError::Internal(format!(
                "partition {} is replicated: its writes go through its replication group",
                self.ident
            )));
        }
        let guard = self.guard();
        let log = self.log_in(&guard)?;
        let info = log
            .append_client_batch(batch, checked, expected)
            .map_err(|source| BrokerError::Append {
                topic: self.ident.topic.clone(),
                partition: self.ident.partition,
                source: Box::new(source),
            })?;
        self.publish(log.high_watermark());
        Ok(info)
    }

    /// The first offset with a timestamp at or after `timestamp_ms`, if any.
    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<u64>, BrokerError> {
        let guard = self.guard();
        let bound = self.commit_bound()?;
        let found = self
            .log_in(&guard)?
            .offset_for_timestamp(timestamp_ms)
            .map_err(|source| self.read_error(source))?;
        Ok(found.filter(|offset| bound.is_none_or(|b| *offset < b)))
    }

    /// First readable offset and high watermark.
    pub fn bounds(&self) -> Result<(u64, u64), BrokerError> {
        let guard = self.guard();
        let log = self.log_in(&guard)?;
        let high_watermark = match self.commit_bound()? {
            Some(bound) => bound.min(log.high_watermark()),
            None => log.high_watermark(),
        };
        Ok((log.log_start_offset(), high_watermark))
    }

    /// Segment count, bytes and offsets.
    pub fn stats(&self) -> Result<LogStats, BrokerError> {
        let guard = self.guard();
        let mut stats = self.log_in(&guard)?.stats();
        // A replica reports what its group committed, as readers see it.
        if let Some(Replication::Replica(commit)) = self.replication() {
            stats.high_watermark = stats.high_watermark.min(*commit.borrow());
        }
        Ok(stats)
    }

    /// The topic/partition identity.
    pub fn ident(&self) -> &LogIdent {
        &self.ident
    }

    /// Runs `work` on the open log. For maintenance (retention, compaction, config
    /// changes): the log stays open meanwhile, so closing the partition waits for it.
    pub(crate) fn with_log<T>(&self, work: impl FnOnce(&Log) -> T) -> Result<T, BrokerError> {
        let guard = self.guard();
        Ok(work(self.log_in(&guard)?))
    }

    /// Takes the maintenance lock, waiting for a retention or compaction under way.
    pub(crate) fn maintenance(&self) -> MutexGuard<'_, CleanMark> {
        self.maintenance
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the maintenance lock only if it is free (background work skips a busy
    /// partition rather than queueing behind an on-demand compaction).
    pub(crate) fn try_maintenance(&self) -> Option<MutexGuard<'_, CleanMark>> {
        match self.maintenance.try_lock() {
            Ok(guard) => Some(guard),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Periodic housekeeping (age roll, interval fsync); a closed partition has none.
    pub fn tick(&self) {
        if let Some(log) = self.guard().as_ref() {
            if let Err(err) = log.tick() {
                tracing::warn!(partition = %self.ident, error = %err, "partition housekeeping failed");
            }
            // An interval fsync may have made more records durable (a replicated
            // partition publishes its commit watermark instead).
            if self.replication().is_none() {
                self.publish(log.high_watermark());
            }
        }
    }

    /// Whether closing has begun (maintenance under way should stop).
    pub(crate) fn closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Waits for appends in flight and cancels maintenance under way, then closes the
    /// log and wakes every waiter for good.
    pub fn close(&self) {
        self.closing.store(true, Ordering::Release);
        let taken = self
            .log
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        self.progress.send_modify(|p| p.open = false);
        if let Some(log) = taken
            && let Err(err) = log.close()
        {
            tracing::error!(partition = %self.ident, error = %err, "closing partition failed");
        }
    }

    /// Makes this a partition of a replicated topic, served as `replication` says
    /// (replacing how it was served before).
    pub fn set_replication(&self, replication: Replication) {
        // A replica's readers see its group's commit watermark, which starts below the
        // local log's end (a reopened log may hold a tail the group never committed,
        // or one it will cut): the notifier starts from the watermark, or waiters
        // would sleep until the commit passed the stale end.
        let commit = match &replication {
            Replication::Replica(commit) => Some(*commit.borrow()),
            Replication::Elsewhere(_) => None,
        };
        *self
            .replication
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(replication);
        if let Some(commit) = commit {
            self.progress.send_modify(|p| p.high_watermark = commit);
        }
    }

    /// How this partition of a replicated topic is served here; `None` for a plain one.
    fn replication(&self) -> Option<Replication> {
        self.replication
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Hands retention requests of this replica to `trimmer` (its replication task).
    pub fn set_trimmer(&self, trimmer: mpsc::UnboundedSender<u64>) -> bool {
        self.trimmer.set(trimmer).is_ok()
    }

    /// Asks this replica's group to move its log start up to `offset`; nothing
    /// happens for a partition without a running replica.
    pub fn request_trim(&self, offset: u64) {
        if let Some(trimmer) = self.trimmer.get() {
            let _ = trimmer.send(offset);
        }
    }

    /// Why this node serves no reads of the partition, when its replicas are on other
    /// nodes.
    pub fn held_elsewhere(&self) -> Option<String> {
        match self.replication() {
            Some(Replication::Elsewhere(reason)) => Some(reason),
            _ => None,
        }
    }

    /// Whether the partition belongs to a replicated topic.
    pub fn is_replicated(&self) -> bool {
        self.replication().is_some()
    }

    /// The shared log, for a replication group to run over.
    pub fn shared_log(&self) -> Result<Arc<Log>, BrokerError> {
        let guard = self.guard();
        self.log_in(&guard).map(Arc::clone)
    }

    /// Publishes a new commit watermark of a replicated partition to waiting readers.
    pub fn publish_commit(&self, commit: u64) {
        self.publish(commit);
    }

    /// The bound readers may not pass: the commit watermark of a replicated
    /// partition, nothing for a plain one, or an error where this node holds no
    /// replica.
    /// For a replica: waits (at most `limit`) until this node knows that the group
    /// committed everything below `offset`. A follower learns the leader's commit
    /// index with the next message from it, so a position a consumer read through the
    /// leader may be a moment ahead of it here.
    pub async fn await_committed(&self, offset: u64, limit: std::time::Duration) {
        if let Some(Replication::Replica(commit)) = self.replication() {
            let mut commit = commit.clone();
            let _ = tokio::time::timeout(limit, commit.wait_for(|c| *c >= offset)).await;
        }
    }

    /// The bound of what is committed: the commit watermark of a replica, nothing for
    /// a plain partition, or an error where this node holds no replica.
    pub(super) fn commit_bound(&self) -> Result<Option<u64>, BrokerError> {
        match self.replication() {
            None => Ok(None),
            Some(Replication::Replica(commit)) => Ok(Some(*commit.borrow())),
            Some(Replication::Elsewhere(reason)) => Err(BrokerError::PartitionUnavailable {
                topic: self.ident.topic.clone(),
                partition: self.ident.partition,
                reason,
            }),
        }
    }

    fn guard(&self) -> RwLockReadGuard<'_, Option<Arc<Log>>> {
        // A panic while holding the lock cannot leave `Log` half-updated from our side
        // (the log guards its own state), so a poisoned lock is still usable.
        self.log.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn log_in<'a>(&self, guard: &'a Option<Arc<Log>>) -> Result<&'a Arc<Log>, BrokerError> {
        guard.as_ref().ok_or_else(|| self.closed_error())
    }

    fn publish(&self, high_watermark: u64) {
        self.progress.send_if_modified(|p| {
            let moved = high_watermark > p.high_watermark;
            if moved {
                p.high_watermark = high_watermark;
            }
            moved
        });
    }

    /// Wraps a storage read error with this partition's identity.
    pub fn read_error(&self, source: ReadError) -> BrokerError {
        BrokerError::Read {
            topic: self.ident.topic.clone(),
            partition: self.ident.partition,
            source: Box::new(source),
        }
    }
}

#[cfg(test)]
#[path = "partition_tests.rs"]
mod tests;
