//! Consumer-group operations: commit, read back with lag, list, describe, delete.
//!
//! A commit is checked against the partitions' current bounds and stored in one durable
//! batch while the commit gate is held for reading; topic deletion holds it for writing
//! while it removes the topic and its commits, so a commit can never land for a topic
//! that was deleted between the check and the store (and resurface if the name is
//! created again).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, PoisonError};

use super::group_store::{Committed, MAX_METADATA_BYTES, now_ms};
use super::group_types::{
    CommitResult, GroupSummary, OffsetCommit, PartitionLag, validate_group_name,
};
use super::topic::Topic;
use super::{Broker, BrokerError, blocking};

impl Broker {
    /// Stores the group's next offsets for partitions of `topic`, all or nothing.
    /// Acknowledged means durable under the broker's fsync policy.
    pub async fn commit_offsets(
        self: &Arc<Self>,
        group: &str,
        topic: &str,
        entries: Vec<OffsetCommit>,
    ) -> Result<Vec<CommitResult>, BrokerError> {
        // Refused while the group has members: theirs are the only commits then.
        self.commit_fenced(group, topic, entries, None).await
    }

    /// Checks `entries` against `topic`'s partitions and, on a single node, stores them.
    /// Blocking; called under the group's membership lock. In a cluster the store is a
    /// Raft round trip, which must not run under that lock (tasks of the group's members
    /// would block runtime threads on it while the round trip needs them), so it is
    /// left to [`Broker::finish_commit`], after the lock is released.
    pub(super) fn commit_blocking(
        &self,
        group: &str,
        topic: &str,
        entries: &[OffsetCommit],
    ) -> Result<CheckedCommit, BrokerError> {
        if self.cluster().is_some() {
            // No commit gate: the metadata group orders commits and topic deletions,
            // and refuses a commit for a topic it no longer has.
            let results = self.check_commit(group, topic, entries)?;
            return Ok(CheckedCommit::Replicate(results));
        }
        let _gate = self
            .commit_gate
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let results = self.check_commit(group, topic, entries)?;
        let stored: Vec<(u32, u64, String)> = entries
            .iter()
            .map(|e| (e.partition, e.next_offset, e.metadata.clone()))
            .collect();
        self.groups.commit(group, topic, &stored, now_ms())?;
        Ok(CheckedCommit::Stored(results))
    }

    /// Completes what [`Broker::commit_blocking`] left: in a cluster, commits through
    /// the metadata group. A commit checked just before a rebalance may land just after
    /// it (one round trip later); a member commits what it processed before it
    /// releases a partition, so only a member already removed for silence can do so.
    pub(super) async fn finish_commit(
        &self,
        checked: CheckedCommit,
        group: &str,
        topic: &str,
        entries: &[OffsetCommit],
    ) -> Result<Vec<CommitResult>, BrokerError> {
        match checked {
            CheckedCommit::Stored(results) => Ok(results),
            CheckedCommit::Replicate(results) => {
                let cluster = self.cluster().ok_or_else(|| {
                    BrokerError::Internal("a replicated commit outside a cluster".into())
                })?;
                self.commit_replicated(cluster, group, topic, entries)
                    .await?;
                Ok(results)
            }
        }
    }

    /// In a cluster, gives each local replica a moment to learn the commits the
    /// positions name (see [`super::partition::Partition::await_committed`]) before
    /// they are checked, outside any lock.
    pub(super) async fn await_commit_bounds(&self, topic: &str, entries: &[OffsetCommit]) {
        if self.cluster().is_none() {
            return;
        }
        let Ok(open) = self.topic(topic) else {
            return;
        };
        for entry in entries {
            if let Ok(partition) = open.partition(entry.partition) {
                partition
                    .await_committed(entry.next_offset, COMMIT_BOUND_WAIT)
                    .await;
            }
        }
    }

    /// Checks each position against its partition's bounds. A partition whose replicas
    /// are on other nodes is not checked here (its bounds are not known here); its
    /// result reports the committed position as both bounds.
    fn check_commit(
        &self,
        group: &str,
        topic: &str,
        entries: &[OffsetCommit],
    ) -> Result<Vec<CommitResult>, BrokerError> {
        let open = self.topic(topic)?;
        let mut results = Vec::with_capacity(entries.len());
        for entry in entries {
            let partition = open.partition(entry.partition)?;
            if partition.held_elsewhere().is_some() {
                results.push(CommitResult {
                    partition: entry.partition,
                    next_offset: entry.next_offset,
                    log_start: entry.next_offset,
                    high_watermark: entry.next_offset,
                });
                continue;
            }
            let (log_start, high_watermark) = partition.bounds()?;
            // Below the log start is fine: retention may have passed the group by.
            if entry.next_offset > high_watermark {
                return Err(BrokerError::CommitOutOfRange {
                    group: group.to_string(),
                    topic: topic.to_string(),
                    partition: entry.partition,
                    next_offset: entry.next_offset,
                    log_start,
                    high_watermark,
                });
            }
            results.push(CommitResult {
                partition: entry.partition,
                next_offset: entry.next_offset,
                log_start,
                high_watermark,
            });
        }
        Ok(results)
    }

    /// The group's commits for every partition of `topic`, with bounds and lag. A
    /// partition without a commit is listed with `committed: None`.
    pub async fn committed_offsets(
        &self,
        group: &str,
        topic: &str,
    ) -> Result<Vec<PartitionLag>, BrokerError> {
        validate_group_name(group)?;
        let open = self.topic(topic)?;
        let committed = self.groups.committed(group, topic);
        let keys = (0..open.summary().partitions).collect();
        blocking(move || lag_of(&open, keys, committed)).await
    }

    /// Every group with at least one commit, in name order (one pass over the keys).
    pub fn list_groups(&self) -> Result<Vec<GroupSummary>, BrokerError> {
        self.accepting()?;
        let summaries = self.groups.summaries().into_iter();
        Ok(summaries
            .map(|(group, topics)| GroupSummary { group, topics })
            .collect())
    }

    /// Every partition the group has committed for, with lag, by topic and partition.
    /// [`BrokerError::GroupNotFound`] when it has no commits.
    pub async fn describe_group(&self, group: &str) -> Result<Vec<PartitionLag>, BrokerError> {
        self.accepting()?;
        validate_group_name(group)?;
        let mut by_topic: BTreeMap<String, BTreeMap<u32, _>> = BTreeMap::new();
        for (key, committed) in self.groups.group(group) {
            by_topic
                .entry(key.topic)
                .or_default()
                .insert(key.partition, committed);
        }
        if by_topic.is_empty() {
            return Err(BrokerError::GroupNotFound {
                group: group.to_string(),
            });
        }
        let mut described = Vec::new();
        for (topic, committed) in by_topic {
            // Commits of a topic deleted meanwhile are gone (or about to be): skip them.
            let Ok(open) = self.topic(&topic) else {
                continue;
            };
            let keys = committed.keys().copied().collect();
            described.extend(blocking(move || lag_of(&open, keys, committed)).await?);
        }
        Ok(described)
    }

    /// Removes every commit of the group (or, with `dry_run`, only says what would go);
    /// returns the removed positions as they were. [`BrokerError::GroupNotFound`] when
    /// it has none.
    pub async fn delete_group(
        self: &Arc<Self>,
        group: &str,
        dry_run: bool,
    ) -> Result<Vec<PartitionLag>, BrokerError> {
        self.check_no_members(group, "deleting the group")?;
        let described = self.describe_group(group).await?;
        if !dry_run && let Some(cluster) = self.cluster() {
            self.delete_group_replicated(cluster, group).await?;
            tracing::info!(group, "consumer group deleted");
        } else if !dry_run {
            let (broker, name) = (Arc::clone(self), group.to_string());
            let removed = off_worker(move || {
                broker.unless_members(&name, "deleting the group", || {
                    Ok(broker.groups.delete_group(&name)?)
                })
            })
            .await?;
            tracing::info!(group, removed, "consumer group deleted");
        }
        Ok(described)
    }
}

/// How long a commit waits for a local replica to learn the commits its positions
/// name before it is checked against them.
const COMMIT_BOUND_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// A commit checked (and on a single node stored) under the group's lock.
pub(super) enum CheckedCommit {
    /// Stored; the per-partition results.
    Stored(Vec<CommitResult>),
    /// Checked; to be replicated by [`Broker::finish_commit`].
    Replicate(Vec<CommitResult>),
}

/// Runs group-store writes on the blocking pool: they wait for a sync shared with
/// other requests, which must not keep an async worker thread (as `block_in_place`
/// would) while it lasts.
pub(super) async fn off_worker<T, F>(work: F) -> Result<T, BrokerError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, BrokerError> + Send + 'static,
{
    tokio::task::spawn_blocking(work).await?
}

/// Bounds and lag of `partitions` of `topic`, joined with the group's commits. Blocking.
fn lag_of(
    topic: &Topic,
    partitions: Vec<u32>,
    mut committed: BTreeMap<u32, Committed>,
) -> Result<Vec<PartitionLag>, BrokerError> {
    partitions
        .into_iter()
        .map(|number| {
            let (log_start, high_watermark) = topic.partition(number)?.bounds()?;
            Ok(PartitionLag {
                topic: topic.name().to_string(),
                partition: number,
                committed: committed.remove(&number),
                log_start,
                high_watermark,
            })
        })
        .collect()
}

/// Rejects bad names, oversized metadata, and empty or repeated partitions.
pub(super) fn validate_commit_request(
    group: &str,
    entries: &[OffsetCommit],
) -> Result<(), BrokerError> {
    validate_group_name(group)?;
    if entries.is_empty() {
        return Err(BrokerError::InvalidRequest(
            "a commit needs at least one partition".into(),
        ));
    }
    let mut seen = BTreeSet::new();
    for entry in entries {
        if !seen.insert(entry.partition) {
            return Err(BrokerError::InvalidRequest(format!(
                "partition {} appears twice in one commit",
                entry.partition
            )));
        }
        if entry.metadata.len() > MAX_METADATA_BYTES {
            return Err(BrokerError::InvalidRequest(format!(
                "metadata of partition {} is {} bytes, more than {MAX_METADATA_BYTES}",
                entry.partition,
                entry.metadata.len()
            )));
        }
    }
    Ok(())
}
