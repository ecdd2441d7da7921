//! Adding partitions to an existing topic (`CreatePartitions`, `eventlog topic
//! add-partitions`, Kafka's CreatePartitions).
//!
//! Existing partitions and their records stay as they are; the new ones start empty.
//! Key placement is murmur2 of the key modulo the partition count, as in Kafka, so
//! once the count grows most keys map to another partition for the records produced
//! after it: per-key order holds within each partition, not across the change.
//!
//! On disk the new partition directories are created and their logs opened first;
//! rewriting `topic.json` with the new count (atomically) is the commit point. A crash
//! before it leaves directories numbered at or above the stored count, which the topic
//! never opens; the next addition removes and recreates them, so a leftover can never
//! bring records into a partition reported as new.
//!
//! In a cluster the change goes through the metadata group (see
//! `replication::add_partitions_replicated`): every node grows its topic when it
//! applies the change, and starts its replicas of the new partitions.

use std::fs;
use std::path::Path;
use std::sync::{Arc, PoisonError};

use super::metadata::{self, sync_dir};
use super::partition::Partition;
use super::topic::Topic;
use super::topic_config::{MAX_PARTITIONS, TopicSummary};
use super::topic_name::TopicName;
use super::{Broker, BrokerError, blocking};
use crate::storage::{Log, LogIdent};

impl Broker {
    /// Gives topic `name` `count` partitions in all (more than it has, at most
    /// [`MAX_PARTITIONS`]); with `validate_only`, checks the request and changes
    /// nothing. Returns the topic as it is (or would be) afterwards.
    pub async fn add_partitions(
        self: &Arc<Self>,
        name: &str,
        count: u32,
        validate_only: bool,
    ) -> Result<TopicSummary, BrokerError> {
        self.accepting()?;
        let name = TopicName::parse(name)?;
        if let Some(cluster) = self.cluster() {
            let cluster = Arc::clone(cluster);
            return self
                .add_partitions_replicated(&cluster, &name, count, validate_only)
                .await;
        }
        let broker = Arc::clone(self);
        blocking(move || {
            let _admin = broker.admin.lock().unwrap_or_else(PoisonError::into_inner);
            let summary = broker.topic(name.as_str())?.summary();
            check_growth(&name, summary.partitions, count)?;
            if validate_only {
                return Ok(TopicSummary {
                    partitions: count,
                    ..summary
                });
            }
            broker.grow_topic_locked(&name, count)
        })
        .await
    }

    /// Grows the open topic `name` to `count` partitions if it has fewer (a topic with
    /// as many or more is left as it is). Used when a node applies a replicated
    /// addition. Blocking.
    pub(super) fn grow_topic_blocking(
        &self,
        name: &TopicName,
        count: u32,
    ) -> Result<TopicSummary, BrokerError> {
        let _admin = self.admin.lock().unwrap_or_else(PoisonError::into_inner);
        let topic = self.topic(name.as_str())?;
        if topic.partitions().len() as u32 >= count {
            return Ok(topic.summary());
        }
        self.grow_topic_locked(name, count)
    }

    /// Opens partitions up to `count`, commits the count in `topic.json`, and serves
    /// the grown topic. The caller holds the admin lock (no creation, deletion or
    /// config change of a topic runs meanwhile) and checked that `count` grows it.
    fn grow_topic_locked(&self, name: &TopicName, count: u32) -> Result<TopicSummary, BrokerError> {
        self.accepting()?;
        let topic = self.topic(name.as_str())?;
        let mut summary = topic.summary();
        let dir = self.dirs.topic_dir(name);
        let added = self.open_new_partitions(&dir, &summary, count)?;
        summary.partitions = count;
        // The commit point: until `topic.json` names the new count, a restart opens
        // the old partitions only.
        if let Err(err) = metadata::write(&dir, &summary) {
            discard(&dir, &added);
            return Err(err);
        }
        let partitions: Vec<Arc<Partition>> =
            topic.partitions().iter().cloned().chain(added).collect();
        let grown = Topic::assemble(summary.clone(), partitions);
        grown.set_producer_limits(self.config.producer_limits);
        // Holders of the old `Topic` keep working on the same partitions; new lookups
        // see the grown one, with its partitioner over the new count.
        self.topics
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_string(), Arc::new(grown));
        // Groups reading the topic share the new partitions from now on.
        self.membership
            .partitions_added(name.as_str(), count, std::time::Instant::now());
        tracing::info!(topic = %name, from = topic.partitions().len(), to = count, "partitions added");
        Ok(summary)
    }

    /// Creates and opens the directories of partitions `summary.partitions..count`,
    /// removing leftovers of an interrupted earlier addition first. On error, what was
    /// opened is closed and removed again.
    fn open_new_partitions(
        &self,
        dir: &Path,
        summary: &TopicSummary,
        count: u32,
    ) -> Result<Vec<Arc<Partition>>, BrokerError> {
        let log_config = Topic::log_config(summary, self.config.fsync, &self.open_segments);
        let mut added: Vec<Arc<Partition>> = Vec::new();
        for number in summary.partitions..count {
            let opened = fresh_partition_dir(dir, number).and_then(|path| {
                let ident = LogIdent::new(summary.name.clone(), number);
                Log::open(&path, ident.clone(), log_config.clone()).map_err(|source| {
                    BrokerError::Open {
                        what: format!("partition {ident}"),
                        source: Box::new(source),
                    }
                })
            });
            match opened {
                Ok(log) => added.push(Arc::new(Partition::new(log))),
                Err(err) => {
                    discard(dir, &added);
                    // The directory of the partition that failed, if it was created.
                    let _ = fs::remove_dir_all(dir.join(number.to_string()));
                    return Err(err);
                }
            }
        }
        if let Err(err) = sync_dir(dir) {
            discard(dir, &added);
            return Err(err);
        }
        Ok(added)
    }
}

/// Refuses a count that does not grow a topic of `current` partitions or exceeds the
/// limit.
pub(crate) fn check_growth(topic: &TopicName, current: u32, count: u32) -> Result<(), BrokerError> {
    let refuse = |reason: String| BrokerError::InvalidPartitionCount {
        topic: topic.to_string(),
        requested: count,
        reason,
    };
    if count <= current {
        return Err(refuse(format!("it has {current}; the count can only grow")));
    }
    if count > MAX_PARTITIONS {
        return Err(refuse(format!(
            "the limit is {MAX_PARTITIONS} partitions per topic"
        )));
    }
    Ok(())
}

/// An empty directory for partition `number` of the topic in `dir`. One that exists
/// already is a leftover of an addition that never committed (the stored count is the
/// truth), so it is removed first.
fn fresh_partition_dir(dir: &Path, number: u32) -> Result<std::path::PathBuf, BrokerError> {
    let path = dir.join(number.to_string());
    if path.exists() {
        tracing::info!(path = %path.display(), "removing the leftover of an interrupted partition addition");
        fs::remove_dir_all(&path).map_err(BrokerError::io(&path))?;
    }
    fs::create_dir(&path).map_err(BrokerError::io(&path))?;
    Ok(path)
}

/// Closes and removes partitions opened for an addition that failed. What cannot be
/// removed now is removed by the next addition.
fn discard(dir: &Path, added: &[Arc<Partition>]) {
    for partition in added {
        partition.close();
        let path = dir.join(partition.ident().partition.to_string());
        if let Err(error) = fs::remove_dir_all(&path) {
            tracing::warn!(path = %path.display(), %error, "could not remove a partition whose addition failed");
        }
    }
}

#[cfg(test)]
#[path = "partition_add_tests.rs"]
mod tests;
