//! An open topic: its summary (name, partition count, config), its partitions and its
//! partitioner. The config can change at runtime (`UpdateTopicConfig`); the name never
//! does, and a `Topic` keeps its partition count: adding partitions
//! (`partition_add`) replaces the topic in the broker's map with a grown one sharing
//! the same partitions.

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use super::error::BrokerError;
use super::partition::Partition;
use super::partitioner::Partitioner;
use super::topic_config::{TopicConfig, TopicSummary};
use crate::storage::producer_state::ProducerLimits;
use crate::storage::{FsyncPolicy, Log, LogConfig, LogIdent, OpenSegments};

/// A topic with every partition log open.
pub struct Topic {
    name: String,
    summary: RwLock<TopicSummary>,
    partitions: Vec<Arc<Partition>>,
    partitioner: Partitioner,
}

impl Topic {
    /// Opens (creating if needed) each partition log under `dir/<partition>/`, charging
    /// loaded sealed segments to `open_segments`. Blocking.
    pub fn open(
        dir: &Path,
        summary: TopicSummary,
        fsync: FsyncPolicy,
        open_segments: &OpenSegments,
    ) -> Result<Topic, BrokerError> {
        let log_config = Topic::log_config(&summary, fsync, open_segments);
        let mut partitions = Vec::with_capacity(summary.partitions as usize);
        for number in 0..summary.partitions {
            let ident = LogIdent::new(summary.name.clone(), number);
            let opened = Log::open(
                &dir.join(number.to_string()),
                ident.clone(),
                log_config.clone(),
            );
            match opened {
                Ok(log) => partitions.push(Arc::new(Partition::new(log))),
                Err(source) => {
                    // Release what was opened so far before reporting.
                    partitions.iter().for_each(|p: &Arc<Partition>| p.close());
                    return Err(BrokerError::Open {
                        what: format!("partition {ident}"),
                        source: Box::new(source),
                    });
                }
            }
        }
        Ok(Topic::assemble(summary, partitions))
    }

    /// The log configuration of the topic's partitions.
    pub(crate) fn log_config(
        summary: &TopicSummary,
        fsync: FsyncPolicy,
        open_segments: &OpenSegments,
    ) -> LogConfig {
        LogConfig {
            open_segments: open_segments.clone(),
            ..summary.config.log_config(fsync)
        }
    }

    /// A topic from partitions opened elsewhere (in parallel at start-up), one per
    /// partition number, in order.
    pub(crate) fn assemble(summary: TopicSummary, partitions: Vec<Arc<Partition>>) -> Topic {
        Topic {
            name: summary.name.clone(),
            partitioner: Partitioner::new(summary.partitions),
            summary: RwLock::new(summary),
            partitions,
        }
    }

    /// Applies the server's limits on idempotent producers to every open partition.
    pub(crate) fn set_producer_limits(&self, limits: ProducerLimits) {
        for partition in &self.partitions {
            // A partition that did not open has no producers to limit.
            let _ = partition.with_log(|log| log.set_producer_limits(limits));
        }
    }

    /// Name, partition count and config (a snapshot: the config may change).
    pub fn summary(&self) -> TopicSummary {
        self.summary
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The current config.
    pub fn config(&self) -> TopicConfig {
        self.summary().config
    }

    /// Replaces the config in memory (the caller stores it and updates the logs).
    pub(crate) fn set_config(&self, config: TopicConfig) {
        self.summary
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .config = config;
    }

    /// The topic name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// All partitions, in partition order.
    pub fn partitions(&self) -> &[Arc<Partition>] {
        &self.partitions
    }

    /// Partition `number`, or [`BrokerError::PartitionNotFound`].
    pub fn partition(&self, number: u32) -> Result<&Arc<Partition>, BrokerError> {
        self.partitions
            .get(number as usize)
            .ok_or_else(|| BrokerError::PartitionNotFound {
                topic: self.name.clone(),
                partition: number,
                partitions: self.partitions.len() as u32,
            })
    }

    /// Where a record with `key` goes when the producer named no partition.
    pub fn place(&self, key: Option<&[u8]>) -> u32 {
        self.partitioner.partition_for(key)
    }

    /// Closes every partition (waiting for appends in flight). Blocking.
    pub fn close(&self) {
        self.partitions.iter().for_each(|p| p.close());
    }
}
