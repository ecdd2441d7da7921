//! Runtime config changes and on-demand compaction, as `impl Broker` blocks.

use std::sync::{Arc, PoisonError};

use super::config_update::TopicConfigUpdate;
use super::error::BrokerError;
use super::topic::Topic;
use super::topic_config::{CleanupPolicy, TopicConfig, TopicSummary};
use super::topic_name::TopicName;
use super::{Broker, blocking, compaction, metadata};
use crate::storage::CompactionStats;

/// What compacting (or estimating) one partition gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionCompaction {
    /// The partition.
    pub partition: u32,
    /// The node whose replica this is, in a cluster (0 on a single node).
    pub node: u64,
    /// Its statistics (for a dry run, the estimate).
    pub stats: CompactionStats,
}

/// What compacting a topic through this node gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicCompaction {
    /// Each replica compacted (on a single node, each partition), by partition and
    /// node.
    pub replicas: Vec<PartitionCompaction>,
    /// In a cluster, the nodes holding replicas that could not be asked or failed,
    /// and why: theirs were not compacted now (they still are in the background).
    pub unreachable: Vec<(u64, String)>,
}

impl Broker {
    /// Changes a topic's config: validated, stored in `topic.json` (atomically), then
    /// applied to every partition log. Retention and compaction use it from their next
    /// round; segment size and age from the next roll. In a cluster the change goes
    /// through the metadata group, so every node applies it (see
    /// `config_replicated`).
    pub async fn update_topic_config(
        self: &Arc<Self>,
        name: &str,
        update: TopicConfigUpdate,
    ) -> Result<TopicSummary, BrokerError> {
        self.accepting()?;
        let name = TopicName::parse(name)?;
        if let Some(cluster) = self.cluster() {
            let cluster = Arc::clone(cluster);
            return self
                .update_topic_config_replicated(&cluster, &name, update)
                .await;
        }
        let broker = Arc::clone(self);
        blocking(move || broker.update_topic_config_blocking(&name, update)).await
    }

    /// The config `update` would give topic `name`, validated, without changing
    /// anything (Kafka's `validate_only`).
    pub fn check_topic_config_update(
        &self,
        name: &str,
        update: TopicConfigUpdate,
    ) -> Result<TopicSummary, BrokerError> {
        let topic = self.topic(name)?;
        let parsed = TopicName::parse(name)?;
        let mut summary = topic.summary();
        summary.config =
            update.apply(&parsed, &summary.config, self.config.default_segment_bytes)?;
        Ok(summary)
    }

    fn update_topic_config_blocking(
        &self,
        name: &TopicName,
        update: TopicConfigUpdate,
    ) -> Result<TopicSummary, BrokerError> {
        // Under the admin lock: a concurrent delete cannot remove the directory between
        // the lookup and the write, and two updates cannot interleave.
        let _admin = self.admin.lock().unwrap_or_else(PoisonError::into_inner);
        let topic = self.topic(name.as_str())?;
        let mut summary = topic.summary();
        summary.config = update.apply(name, &summary.config, self.config.default_segment_bytes)?;
        self.store_topic_config_locked(name, &topic, summary)
    }

    /// Gives the open topic `name` the config `config` (already validated, as a node
    /// of a cluster applies a replicated change), unless it has it already.
    pub(super) fn set_topic_config_blocking(
        &self,
        name: &TopicName,
        config: TopicConfig,
    ) -> Result<TopicSummary, BrokerError> {
        let _admin = self.admin.lock().unwrap_or_else(PoisonError::into_inner);
        let topic = self.topic(name.as_str())?;
        let mut summary = topic.summary();
        if summary.config == config {
            return Ok(summary);
        }
        summary.config = config;
        self.store_topic_config_locked(name, &topic, summary)
    }

    /// Stores `summary` in `topic.json` and applies its config to every partition log
    /// of `topic`. The caller holds the admin lock.
    fn store_topic_config_locked(
        &self,
        name: &TopicName,
        topic: &Topic,
        summary: TopicSummary,
    ) -> Result<TopicSummary, BrokerError> {
        // Stored first: if applying fails midway, the next start applies it in full.
        metadata::write(&self.dirs.topic_dir(name), &summary)?;
        let log_config = summary.config.log_config(self.config.fsync);
        for partition in topic.partitions() {
            partition
                .with_log(|log| log.update_config(log_config.clone()))?
                .map_err(|err| BrokerError::InvalidConfig {
                    topic: name.to_string(),
                    reason: err.to_string(),
                })?;
        }
        topic.set_config(summary.config.clone());
        tracing::info!(topic = %name, config = ?summary.config, "topic config updated");
        Ok(summary)
    }

    /// Compacts every partition of a COMPACT topic now, or with `dry_run` estimates what
    /// that would remove. Runs on the blocking pool; appends and reads go on meanwhile.
    /// In a cluster every replica is compacted (below its commit watermark): this
    /// node's here, and every other node holding replicas is asked for its own at the
    /// same time (see `remote_compact`).
    pub async fn compact_topic(
        &self,
        name: &str,
        dry_run: bool,
    ) -> Result<TopicCompaction, BrokerError> {
        let topic = self.topic(name)?;
        check_compacted(&topic)?;
        let Some(cluster) = self.cluster() else {
            let replicas = self.compact_replicas(name, dry_run).await?;
            return Ok(TopicCompaction {
                replicas,
                unreachable: Vec::new(),
            });
        };
        let (here, elsewhere) = tokio::join!(
            self.compact_replicas(name, dry_run),
            super::remote_compact::compact_elsewhere(cluster, name, dry_run),
        );
        let mut done = TopicCompaction {
            replicas: here?,
            unreachable: elsewhere.unreachable,
        };
        done.replicas.extend(elsewhere.replicas);
        done.replicas.sort_by_key(|r| (r.partition, r.node));
        Ok(done)
    }

    /// Compacts (or estimates) the replicas of `name` this node holds: every partition
    /// on a single node. What another node asks of this one for a topic compacted
    /// through it.
    pub async fn compact_replicas(
        &self,
        name: &str,
        dry_run: bool,
    ) -> Result<Vec<PartitionCompaction>, BrokerError> {
        let topic = self.topic(name)?;
        let node = self.cluster().map_or(0, |c| c.node_id());
        let mut done =
            blocking(move || compact_topic_blocking(&topic, dry_run, &mut |_| {})).await?;
        for replica in &mut done {
            replica.node = node;
        }
        Ok(done)
    }
}

/// Refuses a topic whose cleanup policy is not compact.
fn check_compacted(topic: &Topic) -> Result<(), BrokerError> {
    match topic.config().cleanup_policy {
        CleanupPolicy::Compact => Ok(()),
        _ => Err(BrokerError::NotCompacted {
            topic: topic.name().to_string(),
        }),
    }
}

/// Compacts (or estimates) each partition of `topic` in turn, calling `done` after
/// each. Also used offline.
pub fn compact_topic_blocking(
    topic: &Topic,
    dry_run: bool,
    done: &mut dyn FnMut(&PartitionCompaction),
) -> Result<Vec<PartitionCompaction>, BrokerError> {
    check_compacted(topic)?;
    let config = topic.config();
    // In a cluster, this node's replicas: each node compacts its own copies.
    topic
        .partitions()
        .iter()
        .filter(|partition| partition.held_elsewhere().is_none())
        .map(|partition| {
            let stats = if dry_run {
                compaction::estimate(partition, &config)?
            } else {
                compaction::compact(partition, &config)?
            };
            let outcome = PartitionCompaction {
                partition: partition.number(),
                node: 0,
                stats,
            };
            done(&outcome);
            Ok(outcome)
        })
        .collect()
}
