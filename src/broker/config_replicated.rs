//! A topic config change in a cluster (`UpdateTopicConfig`, Kafka's
//! IncrementalAlterConfigs, the HTTP API's PATCH): the new config goes through the
//! metadata group as an `AlterTopicConfig` command, so every node applies it, including
//! one that was down meanwhile (when it returns, reconciling with the metadata sets the
//! topic's stored config to the cluster's).
//!
//! The command carries the config it was computed from and applies only if the topic
//! still has it, so two changes of different fields made at once through different
//! nodes cannot silently undo each other: the later one is computed again from the
//! config the earlier one left.

use std::sync::Arc;
use std::time::Duration;

use super::config_update::TopicConfigUpdate;
use super::replication::{applied, metadata_failure};
use super::topic_config::{TopicConfig, TopicSummary};
use super::topic_name::TopicName;
use super::{Broker, BrokerError, blocking};
use crate::cluster::metadata::CommandResult;
use crate::cluster::runtime::Cluster;

/// How often a change that raced another is computed and proposed again.
const ATTEMPTS: usize = 5;
/// How long the node answering waits to apply a change the cluster accepted.
const APPLY_TIMEOUT: Duration = Duration::from_secs(15);

impl Broker {
    /// Changes the config of the replicated topic `name` through the metadata group,
    /// and waits until this node has applied it.
    pub(super) async fn update_topic_config_replicated(
        self: &Arc<Self>,
        cluster: &Arc<Cluster>,
        name: &TopicName,
        update: TopicConfigUpdate,
    ) -> Result<TopicSummary, BrokerError> {
        for _ in 0..ATTEMPTS {
            // Waits for a topic just created through another node to arrive here.
            self.topic_synced(name.as_str()).await?;
            let Some((from, current)) = cluster_config(cluster, name)? else {
                return Err(BrokerError::TopicNotFound {
                    topic: name.to_string(),
                });
            };
            let mut summary = current;
            summary.config =
                update.apply(name, &summary.config, self.config.default_segment_bytes)?;
            let config = serde_json::to_value(&summary)
                .map_err(|e| BrokerError::Internal(format!("topic {name} config: {e}")))?;
            let result = cluster
                .alter_topic_config(name.as_str(), from, config)
                .await
                .map_err(|failure| metadata_failure(name.as_str(), failure))?;
            // Another change landed first: compute this one again from its result.
            if !applied(name.as_str(), result, CommandResult::ConfigChanged).await? {
                continue;
            }
            self.wait_for_config(name, &summary.config).await?;
            return Ok(self.topic(name.as_str())?.summary());
        }
        Err(BrokerError::Replication(format!(
            "the config of topic {:?} kept changing while it was being changed; retry",
            name.as_str()
        )))
    }

    /// Gives the open topic `name` the config of its cluster metadata `config` if it
    /// has another (a change applied by the metadata group, or one made while this
    /// node was down).
    pub(super) async fn sync_topic_config(
        self: &Arc<Self>,
        name: &str,
        config: &serde_json::Value,
    ) -> Result<(), BrokerError> {
        let wanted = summary_of(name, config)?.config;
        if self.topic(name)?.config() == wanted {
            return Ok(());
        }
        let parsed = TopicName::parse(name)?;
        let broker = Arc::clone(self);
        blocking(move || broker.set_topic_config_blocking(&parsed, wanted)).await?;
        Ok(())
    }

    /// Waits until this node's topic `name` has `config`.
    async fn wait_for_config(
        &self,
        name: &TopicName,
        config: &TopicConfig,
    ) -> Result<(), BrokerError> {
        let deadline = tokio::time::Instant::now() + APPLY_TIMEOUT;
        while self.topic(name.as_str())?.config() != *config {
            if tokio::time::Instant::now() >= deadline {
                return Err(BrokerError::Replication(format!(
                    "the cluster accepted the config of topic {:?}, but this node has not applied it yet",
                    name.as_str()
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }
}

/// The topic's config as this node's copy of the cluster metadata holds it: the raw
/// value (what a change must start from) and its decoded summary. `None` when the
/// metadata does not list the topic.
fn cluster_config(
    cluster: &Cluster,
    name: &TopicName,
) -> Result<Option<(serde_json::Value, TopicSummary)>, BrokerError> {
    let raw = match cluster.metadata().borrow().0.topics.get(name.as_str()) {
        Some(placement) => placement.config.clone(),
        None => return Ok(None),
    };
    let summary = summary_of(name.as_str(), &raw)?;
    Ok(Some((raw, summary)))
}

/// Decodes a topic's config as the metadata stores it.
fn summary_of(name: &str, config: &serde_json::Value) -> Result<TopicSummary, BrokerError> {
    serde_json::from_value(config.clone())
        .map_err(|e| BrokerError::Internal(format!("topic {name} metadata: {e}")))
}
