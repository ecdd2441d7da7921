//! The cleaner: a thread that applies retention to DELETE topics and compacts COMPACT
//! topics whose dirty ratio reached their threshold. A thread of its own, apart from the
//! tick thread, because a compaction may take minutes and must delay neither the age
//! rolls and interval fsyncs of other partitions nor any async worker.
//!
//! Each round snapshots the topics and reads each topic's config afresh, so
//! `UpdateTopicConfig` takes effect from the next round. Stopping cancels a compaction
//! under way (it leaves the log as before its pass) and waits for nothing further.

use crate::storage::Cancel;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use super::error::BrokerError;
use super::periodic::{PeriodicThread, StopSignal, isolated};
use super::ticker::TopicMap;
use super::topic::Topic;
use super::topic_config::CleanupPolicy;
use super::{compaction, retention};

/// Handle of the cleaner thread; [`Cleaner::stop`] ends it.
pub struct Cleaner(PeriodicThread);

impl Cleaner {
    /// Starts checking every partition of `topics` every `period`.
    pub fn start(topics: Arc<TopicMap>, period: Duration) -> std::io::Result<Cleaner> {
        let thread = PeriodicThread::start("eventlog-cleaner", period, move |stop| {
            clean_all(&topics, stop)
        })?;
        Ok(Cleaner(thread))
    }

    /// Stops the thread after the partition it is cleaning, and waits for it.
    pub fn stop(self) {
        self.0.stop();
    }
}

/// One round over every partition; false when a stop was requested meanwhile.
fn clean_all(topics: &TopicMap, stop: &StopSignal) -> bool {
    // Snapshot so the map's lock is not held during deletions and compactions.
    let snapshot: Vec<Arc<Topic>> = topics
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .values()
        .cloned()
        .collect();
    let stopping = || stop.requested();
    for topic in snapshot {
        for partition in topic.partitions() {
            if stopping() {
                return false;
            }
            isolated(partition.ident(), || {
                clean_one(&topic, partition, &stopping)
            });
        }
    }
    true
}

fn clean_one(topic: &Topic, partition: &super::partition::Partition, stopping: Cancel<'_>) {
    let config = topic.config();
    if partition.held_elsewhere().is_some() {
        return;
    }
    let outcome = match config.cleanup_policy {
        // A replica's log is its group's Raft log: its start moves by a Raft purge,
        // which the partition's replication task asks the group for.
        CleanupPolicy::Delete if partition.is_replicated() => {
            if let Ok(Some(offset)) = retention::replica_point(partition, &config) {
                partition.request_trim(offset);
            }
            return;
        }
        CleanupPolicy::Delete => retention::apply(partition, &config).map(drop),
        CleanupPolicy::Compact => {
            compaction::compact_if_dirty(partition, &config, stopping).map(drop)
        }
    };
    match outcome {
        // The topic was deleted, the broker is closing or the cleaner stopping, or the
        // partition did not open (reported once, at start-up): nothing to clean.
        Ok(())
        | Err(BrokerError::PartitionClosed { .. } | BrokerError::PartitionUnavailable { .. }) => {}
        Err(error) => {
            tracing::warn!(partition = %partition.ident(), %error, "background cleanup failed");
        }
    }
}
