//! Topic administration: create, delete, list, describe.

use std::sync::{Arc, PoisonError};

use super::registry::Retired;
use super::remote_read;
use super::topic::Topic;
use super::topic_config::{NewTopic, TopicSummary};
use super::topic_name::TopicName;
use super::{Broker, BrokerError, TopicDescription, blocking};
use crate::storage::LogStats;

impl Broker {
    /// Creates a topic and opens its partitions.
    pub async fn create_topic(
        self: &Arc<Self>,
        request: NewTopic,
    ) -> Result<TopicSummary, BrokerError> {
        self.accepting()?;
        if let Some(cluster) = self.cluster() {
            return self.create_topic_replicated(cluster, request).await;
        }
        if let Some(rf) = request.replication_factor.filter(|rf| *rf != 1) {
            return Err(BrokerError::InvalidConfig {
                topic: request.name,
                reason: format!(
                    "replication factor {rf}: a single node holds one replica (start a cluster to replicate)"
                ),
            });
        }
        let (name, summary) = request.resolve(self.config.default_segment_bytes)?;
        let broker = Arc::clone(self);
        blocking(move || broker.create_topic_blocking(&name, summary)).await
    }

    pub(super) fn create_topic_blocking(
        &self,
        name: &TopicName,
        summary: TopicSummary,
    ) -> Result<TopicSummary, BrokerError> {
        let _admin = self.admin.lock().unwrap_or_else(PoisonError::into_inner);
        self.accepting()?;
        if self
            .topics
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(name.as_str())
        {
            return Err(BrokerError::TopicExists {
                topic: name.to_string(),
            });
        }
        // Commits of an earlier topic of this name whose removal failed at its deletion:
        // the new topic starts without any.
        let stale = self.groups.delete_topic(name.as_str())?;
        if stale > 0 {
            tracing::info!(topic = %name, removed = stale, "dropped consumer-group commits left by an earlier topic of this name");
        }
        let dir = self.dirs.create(name, &summary)?;
        let topic = match Topic::open(
            &dir,
            summary.clone(),
            self.config.fsync,
            &self.open_segments,
        ) {
            Ok(topic) => topic,
            Err(err) => {
                // Committed on disk but never served: remove it, or the next start
                // would bring back a topic whose creation was reported as failed.
                if let Err(cleanup) = self.dirs.remove(name) {
                    tracing::error!(topic = %name, error = %cleanup, "could not remove a topic whose creation failed");
                }
                return Err(err);
            }
        };
        topic.set_producer_limits(self.config.producer_limits);
        self.topics
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_string(), Arc::new(topic));
        tracing::info!(topic = %name, partitions = summary.partitions, "topic created");
        Ok(summary)
    }

    /// Deletes a topic: commits the deletion on disk (a failure there changes nothing),
    /// then unlists it, drops its group commits, closes its partitions (waiting for
    /// appends in flight, ending subscriptions) and removes its data.
    pub async fn delete_topic(self: &Arc<Self>, name: &str) -> Result<(), BrokerError> {
        self.accepting()?;
        if let Some(cluster) = self.cluster() {
            return self.delete_topic_replicated(cluster, name).await;
        }
        let name = TopicName::parse(name)?;
        let broker = Arc::clone(self);
        blocking(move || broker.delete_topic_blocking(&name)).await
    }

    pub(super) fn delete_topic_blocking(&self, name: &TopicName) -> Result<(), BrokerError> {
        // The lookup happens under the admin lock, so a concurrent delete and re-create
        // of the same name cannot make this remove the wrong incarnation.
        let _admin = self.admin.lock().unwrap_or_else(PoisonError::into_inner);
        let (topic, retired) = self.unlist_topic(name)?;
        // Outside the commit gate: closing waits for appends in flight and for a
        // compaction to notice its cancellation, and commits of other topics must not
        // wait for that. Commits of this topic already find it gone.
        if let Some(topic) = topic {
            topic.close();
        }
        self.dirs.purge(retired);
        tracing::info!(topic = %name, "topic deleted");
        Ok(())
    }

    /// Commits the deletion on disk, takes the topic out of the topic map and drops its
    /// group commits, with the commit gate held exclusively: no commit for it may be
    /// between its check and its store. The durable rename is the commit point and comes
    /// first: if it fails, nothing changed (the topic is listed, served, and keeps its
    /// group commits).
    fn unlist_topic(&self, name: &TopicName) -> Result<(Option<Arc<Topic>>, Retired), BrokerError> {
        let _gate = self
            .commit_gate
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let exists = self
            .topics
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(name.as_str());
        if !exists {
            return Err(BrokerError::TopicNotFound {
                topic: name.to_string(),
            });
        }
        let retired = self.dirs.retire(name)?;
        let topic = self
            .topics
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name.as_str());
        // Commits left behind by a failure here are dropped when the broker next opens
        // or before the name is created again, so no new topic inherits them.
        match self.groups.delete_topic(name.as_str()) {
            Ok(removed) => {
                tracing::debug!(topic = %name, removed, "removed the topic's consumer-group commits");
            }
            Err(error) => {
                tracing::error!(topic = %name, %error, "could not remove the deleted topic's consumer-group commits yet");
            }
        }
        Ok((topic, retired))
    }

    /// Every topic, in name order.
    pub fn list_topics(&self) -> Result<Vec<TopicSummary>, BrokerError> {
        self.accepting()?;
        let topics = self.topics.read().unwrap_or_else(PoisonError::into_inner);
        Ok(topics.values().map(|t| t.summary().clone()).collect())
    }

    /// A topic's config and the statistics of each partition. In a cluster, those of
    /// a partition this node holds no replica of come from a node that holds one.
    pub async fn describe_topic(&self, name: &str) -> Result<TopicDescription, BrokerError> {
        let topic = self.topic_synced(name).await?;
        let held = Arc::clone(&topic);
        let mut description = blocking(move || {
            let mut unavailable = std::collections::BTreeMap::new();
            let mut partitions = Vec::with_capacity(held.partitions().len());
            for p in held.partitions() {
                match p
                    .unavailable_reason()
                    .map(str::to_string)
                    .or_else(|| p.held_elsewhere())
                {
                    Some(reason) => {
                        unavailable.insert(p.number(), reason.to_string());
                        partitions.push(LogStats {
                            log_start_offset: 0,
                            high_watermark: 0,
                            segment_count: 0,
                            size_bytes: 0,
                        });
                    }
                    None => partitions.push(p.stats()?),
                }
            }
            Ok(TopicDescription {
                topic: held.summary().clone(),
                partitions,
                unavailable,
            })
        })
        .await?;
        for partition in topic.partitions() {
            let Some(cluster) = self.serving_cluster(partition) else {
                continue;
            };
            let number = partition.number();
            match remote_read::stats_elsewhere(&cluster, partition).await {
                Ok(stats) => {
                    description.unavailable.remove(&number);
                    description.partitions[number as usize] = stats;
                }
                Err(error) => {
                    description.unavailable.insert(number, error.to_string());
                }
            }
        }
        Ok(description)
    }
}

#[cfg(test)]
#[path = "admin_tests.rs"]
mod tests;
