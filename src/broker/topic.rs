//! An open topic: its summary (name, partition count, config), its partitions and its
//! partitioner.

use std::path::Path;
use std::sync::Arc;

use super::error::BrokerError;
use super::partition::Partition;
use super::partitioner::Partitioner;
use super::topic_config::TopicSummary;
use crate::storage::{FsyncPolicy, Log, LogIdent};

/// A topic with every partition log open.
pub struct Topic {
    summary: TopicSummary,
    partitions: Vec<Arc<Partition>>,
    partitioner: Partitioner,
}

impl Topic {
    /// Opens (creating if needed) each partition log under `dir/<partition>/`. Blocking.
    pub fn open(
        dir: &Path,
        summary: TopicSummary,
        fsync: FsyncPolicy,
    ) -> Result<Topic, BrokerError> {
        let log_config = summary.config.log_config(fsync);
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
        let partitioner = Partitioner::new(summary.partitions);
        Ok(Topic {
            summary,
            partitions,
            partitioner,
        })
    }

    /// Name, partition count and config.
    pub fn summary(&self) -> &TopicSummary {
        &self.summary
    }

    /// The topic name.
    pub fn name(&self) -> &str {
        &self.summary.name
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
                topic: self.summary.name.clone(),
                partition: number,
                partitions: self.summary.partitions,
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
