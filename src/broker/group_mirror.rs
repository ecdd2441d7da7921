//! In a cluster, consumer-group positions are replicated by the metadata group
//! (`crate::cluster::group_offsets`); this node's group store mirrors what that group
//! applies, in order, and keeps serving reads, lag and listings as on a single node.
//!
//! A commit proposed through this node is acknowledged once a majority holds it and
//! the mirror here has caught up with its entry, so a client reads its own commit back
//! through the node it committed through (and through any other once that node's
//! mirror catches up, which is what a follower's lag means).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::watch;

use super::group_store::{Committed, now_ms};
use super::group_types::OffsetCommit;
use super::{Broker, BrokerError, blocking};
use crate::cluster::Cluster;
use crate::cluster::group_offsets::{GroupChange, GroupOffsets, IndexedChange, OffsetEntry};
use crate::cluster::metadata::CommandResult;
use crate::cluster::propose::ProposeFailure;

/// How long an acknowledged commit waits for this node's mirror before it is
/// acknowledged anyway (it is durable on a majority; only reading it back here lags).
const MIRROR_WAIT: Duration = Duration::from_secs(5);

/// How far this node's group store has mirrored the metadata group.
#[derive(Debug)]
pub(super) struct Mirrored(watch::Sender<u64>);

impl Default for Mirrored {
    fn default() -> Mirrored {
        Mirrored(watch::channel(0).0)
    }
}

impl Broker {
    /// Starts mirroring `cluster`'s group changes into the group store. Groups of this
    /// data directory that the cluster does not know (written before the node joined)
    /// are removed, so every node serves the same groups; changes already applied are
    /// mirrored before this returns, so clients never see positions older than the
    /// node had before a restart.
    pub(super) async fn mirror_groups(
        self: &Arc<Self>,
        cluster: &Arc<Cluster>,
    ) -> Result<(), BrokerError> {
        let Some(mut changes) = cluster.take_group_changes() else {
            return Err(BrokerError::Internal(
                "the cluster's group changes are mirrored already".into(),
            ));
        };
        let known: BTreeSet<String> = cluster
            .metadata()
            .borrow()
            .0
            .groups
            .keys()
            .cloned()
            .collect();
        let broker = Arc::clone(self);
        blocking(move || {
            for group in broker.groups.groups() {
                if !known.contains(&group) {
                    tracing::warn!(%group, "a consumer group in the data directory is not in the cluster's metadata; it is removed");
                    broker.groups.delete_group(&group)?;
                }
            }
            Ok(())
        })
        .await?;
        let mut queued = Vec::new();
        while let Ok(change) = changes.try_recv() {
            queued.push(change);
        }
        self.apply_group_changes(queued).await;
        let broker = Arc::downgrade(self);
        tokio::spawn(async move { mirror_loop(broker, &mut changes).await });
        Ok(())
    }

    /// Applies `changes` to the group store, in order, and publishes the last index.
    /// A change the store refuses (a full disk) is logged: the metadata log keeps it,
    /// and a restart mirrors it again.
    async fn apply_group_changes(self: &Arc<Self>, changes: Vec<IndexedChange>) {
        let Some(last) = changes.last().map(|(index, _)| *index) else {
            return;
        };
        let broker = Arc::clone(self);
        let applied = blocking(move || {
            for (index, change) in changes {
                if let Err(error) = broker.apply_group_change(change) {
                    tracing::error!(index, %error, "could not mirror a consumer-group change");
                }
            }
            Ok(())
        })
        .await;
        if let Err(error) = applied {
            tracing::error!(%error, "could not mirror consumer-group changes");
        }
        self.mirrored.0.send_modify(|at| *at = (*at).max(last));
    }

    fn apply_group_change(&self, change: GroupChange) -> Result<(), BrokerError> {
        match change {
            GroupChange::Commit {
                group,
                topic,
                offsets,
                time_ms,
            } => {
                let stored: Vec<(u32, u64, String)> = offsets
                    .into_iter()
                    .map(|o| (o.partition, o.next_offset, o.metadata))
                    .collect();
                self.groups.commit(&group, &topic, &stored, time_ms)?;
            }
            GroupChange::DeleteGroup { group } => {
                self.groups.delete_group(&group)?;
            }
            GroupChange::DeleteTopic { topic } => {
                self.groups.delete_topic(&topic)?;
            }
            GroupChange::Reset(all) => self.reset_groups(all)?,
        }
        Ok(())
    }

    /// Makes the group store hold exactly `all`, writing only what differs (at start,
    /// the store already holds nearly all of it).
    fn reset_groups(&self, all: GroupOffsets) -> Result<(), BrokerError> {
        for group in self.groups.groups() {
            if !all.contains_key(&group) {
                self.groups.delete_group(&group)?;
            }
        }
        for (group, topics) in all {
            let mut local: BTreeMap<(String, u32), Committed> = self
                .groups
                .group(&group)
                .into_iter()
                .map(|(key, committed)| ((key.topic, key.partition), committed))
                .collect();
            let wanted = |topic: &String, partition: &u32| {
                topics.get(topic).is_some_and(|p| p.contains_key(partition))
            };
            // The store removes whole groups only: a position the snapshot lacks
            // means writing the group again.
            if local
                .keys()
                .any(|(topic, partition)| !wanted(topic, partition))
            {
                self.groups.delete_group(&group)?;
                local.clear();
            }
            for (topic, partitions) in topics {
                for (partition, at) in partitions {
                    let same = local.get(&(topic.clone(), partition)).is_some_and(|c| {
                        c.next_offset == at.next_offset
                            && c.metadata == at.metadata
                            && c.commit_time_ms == at.time_ms
                    });
                    if !same {
                        let entry = [(partition, at.next_offset, at.metadata)];
                        self.groups.commit(&group, &topic, &entry, at.time_ms)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Commits through the metadata group, then waits for this node's mirror.
    pub(super) async fn commit_replicated(
        &self,
        cluster: &Cluster,
        group: &str,
        topic: &str,
        entries: &[OffsetCommit],
    ) -> Result<(), BrokerError> {
        let offsets = entries
            .iter()
            .map(|e| OffsetEntry {
                partition: e.partition,
                next_offset: e.next_offset,
                metadata: e.metadata.clone(),
            })
            .collect();
        let (result, index) = cluster
            .commit_offsets(group, topic, offsets, now_ms())
            .await
            .map_err(replication_error)?;
        if result == CommandResult::NotFound {
            // The partitions were checked here first: the topic went meanwhile.
            return Err(BrokerError::TopicNotFound {
                topic: topic.to_string(),
            });
        }
        self.mirrored_through(index).await;
        Ok(())
    }

    /// Deletes a group through the metadata group, then waits for this node's mirror.
    pub(super) async fn delete_group_replicated(
        &self,
        cluster: &Cluster,
        group: &str,
    ) -> Result<(), BrokerError> {
        let (result, index) = cluster
            .delete_group(group)
            .await
            .map_err(replication_error)?;
        if result == CommandResult::NotFound {
            return Err(BrokerError::GroupNotFound {
                group: group.to_string(),
            });
        }
        self.mirrored_through(index).await;
        Ok(())
    }

    /// Waits until this node's mirror has applied the metadata entry `index`.
    pub(super) async fn mirrored_through(&self, index: u64) {
        let mut watch = self.mirrored.0.subscribe();
        let wait = watch.wait_for(|at| *at >= index);
        if tokio::time::timeout(MIRROR_WAIT, wait).await.is_err() {
            tracing::warn!(index, "a replicated group change is not mirrored here yet");
        }
    }
}

fn replication_error(failure: ProposeFailure) -> BrokerError {
    match failure {
        ProposeFailure::Invalid(reason) => BrokerError::InvalidRequest(reason),
        other => BrokerError::Replication(other.to_string()),
    }
}

async fn mirror_loop(
    broker: std::sync::Weak<Broker>,
    changes: &mut UnboundedReceiver<IndexedChange>,
) {
    while let Some(first) = changes.recv().await {
        let mut batch = vec![first];
        while let Ok(next) = changes.try_recv() {
            batch.push(next);
        }
        let Some(broker) = broker.upgrade() else {
            return;
        };
        broker.apply_group_changes(batch).await;
    }
}
