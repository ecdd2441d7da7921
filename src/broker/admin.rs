//! Topic administration: create, delete, list, describe.

use std::sync::{Arc, PoisonError};

use super::topic::Topic;
use super::topic_config::{NewTopic, TopicSummary};
use super::topic_name::TopicName;
use super::{Broker, BrokerError, TopicDescription, blocking};

impl Broker {
    /// Creates a topic and opens its partitions.
    pub async fn create_topic(
        self: &Arc<Self>,
        request: NewTopic,
    ) -> Result<TopicSummary, BrokerError> {
        self.accepting()?;
        let (name, summary) = request.resolve(self.config.default_segment_bytes)?;
        let broker = Arc::clone(self);
        blocking(move || broker.create_topic_blocking(&name, summary)).await
    }

    fn create_topic_blocking(
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
        self.topics
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_string(), Arc::new(topic));
        tracing::info!(topic = %name, partitions = summary.partitions, "topic created");
        Ok(summary)
    }

    /// Deletes a topic: closes its partitions (waiting for appends in flight, ending
    /// subscriptions) and removes its data.
    pub async fn delete_topic(self: &Arc<Self>, name: &str) -> Result<(), BrokerError> {
        self.accepting()?;
        let name = TopicName::parse(name)?;
        let broker = Arc::clone(self);
        blocking(move || broker.delete_topic_blocking(&name)).await
    }

    fn delete_topic_blocking(&self, name: &TopicName) -> Result<(), BrokerError> {
        // The lookup happens under the admin lock, so a concurrent delete and re-create
        // of the same name cannot make this remove the wrong incarnation.
        let _admin = self.admin.lock().unwrap_or_else(PoisonError::into_inner);
        let topic = self.unlist_topic(name)?;
        // Outside the commit gate: closing waits for appends in flight and for a
        // compaction to notice its cancellation, and commits of other topics must not
        // wait for that. Commits of this topic already find it gone.
        topic.close();
        self.dirs.remove(name)?;
        tracing::info!(topic = %name, "topic deleted");
        Ok(())
    }

    /// Drops the topic's group commits and takes it out of the topic map, with the
    /// commit gate held exclusively: no commit for it may be between its check and its
    /// store.
    fn unlist_topic(&self, name: &TopicName) -> Result<Arc<Topic>, BrokerError> {
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
        // Before the directory goes: a crash in between leaves a topic without commits
        // (harmless), never commits that a re-created topic would inherit; commits left
        // by a crash after this point are dropped when the broker opens. Before the topic
        // closes, too: if this fails (a full disk) the topic is still whole and served.
        let removed = self.groups.delete_topic(name.as_str())?;
        tracing::debug!(topic = %name, removed, "removed the topic's consumer-group commits");
        self.topics
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name.as_str())
            .ok_or_else(|| BrokerError::TopicNotFound {
                topic: name.to_string(),
            })
    }

    /// Every topic, in name order.
    pub fn list_topics(&self) -> Result<Vec<TopicSummary>, BrokerError> {
        self.accepting()?;
        let topics = self.topics.read().unwrap_or_else(PoisonError::into_inner);
        Ok(topics.values().map(|t| t.summary().clone()).collect())
    }

    /// A topic's config and the statistics of each partition.
    pub async fn describe_topic(&self, name: &str) -> Result<TopicDescription, BrokerError> {
        let topic = self.topic(name)?;
        blocking(move || {
            let partitions = topic
                .partitions()
                .iter()
                .map(|p| p.stats())
                .collect::<Result<_, _>>()?;
            Ok(TopicDescription {
                topic: topic.summary().clone(),
                partitions,
            })
        })
        .await
    }
}
