//! The broker in a cluster: topics come from the cluster's metadata, and every
//! partition of them is a replica served through its replication group.
//!
//! - **Topics** are created and deleted by metadata commands; every node applies them
//!   and **reconciles**: it opens (or removes) the topic's directory like a local topic,
//!   starts its replica of each partition placed on it, and marks the others as held
//!   elsewhere. A node keeps a local directory for every partition of a topic, so the
//!   placement can later move a replica onto it.
//! - **Configs change** by a metadata command too: every node stores and applies the
//!   topic's new config when it reconciles (`config_replicated`).
//! - **Partitions are added** by a metadata command too: every node grows its open
//!   topic to the placement's count when it applies it, and starts its replicas of the
//!   new partitions as for a new topic.
//! - **Writes** are encoded into one batch per partition here and proposed to the
//!   partition's group through [`Cluster::propose`], which hands them to the leader
//!   wherever it is; they are acknowledged once a majority of replicas holds them.
//! - **Replicas move** by a metadata command too ([`crate::cluster::replica_move`]): a
//!   node gaining a replica starts it as for a new partition; a node losing one serves
//!   no more reads of it at once and stops it when the move is done.
//! - **Reads** on a replica stop at its commit watermark ([`Replication::Replica`]):
//!   consumers never see a record a majority has not stored.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, PoisonError, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;

use super::partition::{Partition, Replication};
use super::produce::PartitionAppend;
use super::topic_config::{NewTopic, TopicSummary};
use super::topic_name::TopicName;
use super::{Broker, BrokerError, blocking};
use crate::cluster::Acks;
use crate::cluster::metadata::{ClusterState, CommandResult, TopicPlacement};
use crate::cluster::propose::{ProposeFailure, Proposed};
use crate::cluster::runtime::Cluster;
use crate::storage::batch_v2::{self, BatchMeta};
use crate::storage::producer_state::ProducerBatch;
use crate::storage::{AppendError, AppendInfo, LogIdent, Record};

/// How long a topic creation or deletion waits for this node to apply it.
const APPLY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a topic creation waits for its partitions' first leaders (an election
/// whose first round failed takes another election timeout or two).
const FIRST_LEADERS: Duration = Duration::from_secs(5);
/// How long a request naming a topic this node does not know waits for the metadata
/// to reach it: a topic just created through another node arrives here with the
/// metadata leader's next message (a heartbeat at most).
const METADATA_CATCH_UP: Duration = Duration::from_secs(2);

impl Broker {
    /// The cluster this broker serves in, if any.
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.get()
    }

    /// Serves this broker's topics as replicas in `cluster`: every partition already
    /// open stops serving reads until its replica runs, then topics follow the
    /// cluster's metadata from now on. Call before accepting clients.
    pub async fn join_cluster(self: &Arc<Self>, cluster: Arc<Cluster>) -> Result<(), BrokerError> {
        self.producer_ids.set_node(cluster.node_id())?;
        if self.cluster.set(Arc::clone(&cluster)).is_err() {
            return Err(BrokerError::Internal(
                "the broker joined a cluster already".into(),
            ));
        }
        let mut metadata = cluster.metadata();
        let state = metadata.borrow_and_update().0.clone();
        let mut known = BTreeSet::new();
        let mut done = self
            .reconcile(&cluster, &state.topics, &mut known)
            .await
            .then(|| (state.topics.clone(), cluster.nodes()));
        self.set_aside_unknown_topics(&state);
        self.mirror_groups(&cluster).await?;
        let broker = Arc::downgrade(self);
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    changed = metadata.changed() => if changed.is_err() { return },
                    () = shutdown.cancelled() => return,
                }
                // Most changes are consumer-group commits: when neither the topics nor
                // the nodes changed since a reconciliation that fully succeeded, there
                // is nothing to do (and nothing to copy).
                let nodes = cluster.nodes();
                let topics = {
                    let view = metadata.borrow_and_update();
                    if done
                        .as_ref()
                        .is_some_and(|(t, n)| *t == view.0.topics && *n == nodes)
                    {
                        continue;
                    }
                    view.0.topics.clone()
                };
                let Some(broker) = Weak::upgrade(&broker) else {
                    return;
                };
                done = broker
                    .reconcile(&cluster, &topics, &mut known)
                    .await
                    .then_some((topics, nodes));
            }
        });
        Ok(())
    }

    /// Brings this node's topics and replicas in line with the cluster's `topics`;
    /// whether every step succeeded (a failed one is tried again at the next change).
    /// `known` holds the topics seen the previous time, so that only a deletion this
    /// node saw removes a local topic.
    async fn reconcile(
        self: &Arc<Self>,
        cluster: &Arc<Cluster>,
        topics: &BTreeMap<String, TopicPlacement>,
        known: &mut BTreeSet<String>,
    ) -> bool {
        let mut complete = true;
        for (name, placement) in topics {
            if let Err(error) = self
                .materialize(cluster, name, &placement.config, &placement.replicas)
                .await
            {
                tracing::error!(topic = %name, %error, "could not serve a replicated topic");
                complete = false;
            }
        }
        let gone: Vec<String> = known
            .iter()
            .filter(|name| !topics.contains_key(*name))
            .cloned()
            .collect();
        for name in gone {
            let partitions = self.topic(&name).map(|t| t.partitions().len()).unwrap_or(0);
            for number in 0..partitions as u32 {
                cluster.stop_replica(&name, number).await;
            }
            if let Ok(parsed) = TopicName::parse(&name) {
                let broker = Arc::clone(self);
                let removed = blocking(move || broker.delete_topic_blocking(&parsed)).await;
                if let Err(error) = removed {
                    tracing::error!(topic = %name, %error, "could not remove a deleted replicated topic");
                    complete = false;
                }
            }
        }
        *known = topics.keys().cloned().collect();
        complete
    }

    /// Topics in the data directory that the cluster's metadata does not list (written
    /// before this node joined a cluster) are neither read nor written: replicas serve
    /// only what their groups replicate.
    fn set_aside_unknown_topics(&self, state: &ClusterState) {
        let topics = self.topics.read().unwrap_or_else(PoisonError::into_inner);
        for (name, topic) in topics.iter() {
            if state.topics.contains_key(name) {
                continue;
            }
            tracing::warn!(topic = %name, "a topic in the data directory is not in the cluster's metadata; it is not served");
            for partition in topic.partitions() {
                partition.set_replication(Replication::Elsewhere(format!(
                    "topic {name:?} is in this node's data directory but not in the cluster's metadata"
                )));
            }
        }
    }

    /// Opens `name` here if needed and starts this node's replicas of it.
    async fn materialize(
        self: &Arc<Self>,
        cluster: &Arc<Cluster>,
        name: &str,
        config: &serde_json::Value,
        replicas: &[Vec<u64>],
    ) -> Result<(), BrokerError> {
        let topic = match self.topic(name) {
            Ok(topic) => topic,
            Err(BrokerError::TopicNotFound { .. }) => {
                let summary: TopicSummary = serde_json::from_value(config.clone())
                    .map_err(|e| BrokerError::Internal(format!("topic {name} metadata: {e}")))?;
                let parsed = TopicName::parse(name)?;
                let broker = Arc::clone(self);
                match blocking(move || broker.create_topic_blocking(&parsed, summary)).await {
                    Ok(_) | Err(BrokerError::TopicExists { .. }) => {}
                    Err(error) => return Err(error),
                }
                self.topic(name)?
            }
            Err(error) => return Err(error),
        };
        // A config changed through the metadata group since this node stored its own.
        // Failing to store it must not keep the replicas from starting: the next
        // metadata change (or start) tries again.
        if let Err(error) = self.sync_topic_config(name, config).await {
            tracing::error!(topic = %name, %error, "could not apply the cluster's config of a topic");
        }
        // Partitions added through the metadata group since this node opened the topic.
        let topic = if topic.partitions().len() < replicas.len() {
            let parsed = TopicName::parse(name)?;
            let count = replicas.len() as u32;
            let broker = Arc::clone(self);
            blocking(move || broker.grow_topic_blocking(&parsed, count)).await?;
            self.topic(name)?
        } else {
            topic
        };
        let nodes = cluster.nodes();
        for (number, partition) in topic.partitions().iter().enumerate() {
            let number = number as u32;
            let holders = replicas.get(number as usize).cloned().unwrap_or_default();
            if !holders.contains(&cluster.node_id()) {
                let reason = elsewhere(partition.ident(), cluster.node_id(), &holders, &nodes);
                partition.set_replication(Replication::Elsewhere(reason));
                // A replica moved away keeps running (a voter until the group's
                // membership changes) until the move is done.
                if !cluster.keeps_replica(name, number) {
                    cluster.stop_replica(name, number).await;
                }
                continue;
            }
            if cluster.replica(name, number).is_some() {
                continue;
            }
            self.start_replica(cluster, partition).await?;
        }
        Ok(())
    }

    async fn start_replica(
        &self,
        cluster: &Arc<Cluster>,
        partition: &Arc<Partition>,
    ) -> Result<(), BrokerError> {
        let ident = partition.ident().clone();
        let (commit, watermark) = watch::channel(0);
        partition.set_replication(Replication::Replica(watermark.clone()));
        let log = partition.shared_log()?;
        cluster
            .start_replica(&ident.topic, ident.partition, log, commit)
            .await
            .map_err(|e| BrokerError::Replication(format!("partition {ident}: {e}")))?;
        super::replica_trim::start(cluster, partition, self.shutdown.clone());
        // Readers wait on the partition's own notifier: hand it every commit.
        let target = Arc::downgrade(partition);
        let mut watermark = watermark;
        tokio::spawn(async move {
            loop {
                let commit = *watermark.borrow_and_update();
                match target.upgrade() {
                    Some(partition) => partition.publish_commit(commit),
                    None => return,
                }
                if watermark.changed().await.is_err() {
                    return;
                }
            }
        });
        Ok(())
    }

    /// The open topic `name`; in a cluster, a topic unknown here is waited for a
    /// moment, since it may have just been created through another node (or be still
    /// opening here), unless this node leads the metadata group and has not applied it
    /// (that answer is final).
    pub(crate) async fn topic_synced(
        &self,
        name: &str,
    ) -> Result<Arc<super::topic::Topic>, BrokerError> {
        match self.topic(name) {
            Err(BrokerError::TopicNotFound { .. })
                if let Some(cluster) = self.cluster()
                    && (cluster.metadata_leader() != Some(cluster.node_id())
                        || cluster.metadata().borrow().0.topics.contains_key(name)) =>
            {
                let deadline = tokio::time::Instant::now() + METADATA_CATCH_UP;
                loop {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    match self.topic(name) {
                        Err(BrokerError::TopicNotFound { .. })
                            if tokio::time::Instant::now() < deadline => {}
                        // A node that lost its data learns the topics again as it
                        // rejoins: "not found" would be a wrong, final answer.
                        Err(BrokerError::TopicNotFound { .. }) if cluster.node().rejoining() => {
                            return Err(BrokerError::Replication(format!(
                                "node {} is rejoining the cluster after losing its data and \
                                 does not know topic {name:?} yet; retry, or ask another node",
                                cluster.node_id()
                            )));
                        }
                        other => return other,
                    }
                }
            }
            other => other,
        }
    }

    /// Creates a replicated topic through the cluster's metadata, and waits until this
    /// node serves it.
    pub(crate) async fn create_topic_replicated(
        self: &Arc<Self>,
        cluster: &Arc<Cluster>,
        request: NewTopic,
    ) -> Result<TopicSummary, BrokerError> {
        let nodes = cluster.nodes().len();
        if nodes == 0 {
            return Err(BrokerError::Replication(
                "the cluster has not formed yet (a majority of its nodes must be up)".into(),
            ));
        }
        let replication_factor = request
            .replication_factor
            .map_or(nodes.min(3), |rf| rf as usize);
        let (name, summary) = request.resolve(self.config.default_segment_bytes)?;
        let config =
            serde_json::to_value(&summary).map_err(|e| BrokerError::Internal(e.to_string()))?;
        let result = cluster
            .create_topic(
                name.as_str(),
                config,
                summary.partitions,
                replication_factor,
            )
            .await
            .map_err(|failure| metadata_failure(name.as_str(), failure))?;
        if result == CommandResult::AlreadyExists {
            return Err(BrokerError::TopicExists {
                topic: name.to_string(),
            });
        }
        // Creating a partition's directory and log takes a few fsyncs on every node.
        let creating = Duration::from_millis(50) * summary.partitions;
        self.wait_for_topic(name.as_str(), true, APPLY_TIMEOUT + creating)
            .await?;
        // The topic exists once the metadata says so; a partition still electing its
        // first leader would only make the first produce wait. One that has none in
        // time is no failure of the creation: its produces wait for the election.
        let leaderless = cluster
            .await_leaders(name.as_str(), summary.partitions, FIRST_LEADERS + creating)
            .await;
        if !leaderless.is_empty() {
            tracing::warn!(topic = %name, partitions = ?leaderless,
                "topic created; these partitions have no leader yet (a majority of their replicas must be up)");
        }
        Ok(summary)
    }

    /// Adds partitions to a replicated topic through the cluster's metadata, and waits
    /// until this node serves them. A proposal that raced another addition is made
    /// again from the new count (and refused if that count is already reached).
    pub(crate) async fn add_partitions_replicated(
        self: &Arc<Self>,
        cluster: &Arc<Cluster>,
        name: &TopicName,
        count: u32,
        validate_only: bool,
    ) -> Result<TopicSummary, BrokerError> {
        for _ in 0..3 {
            let summary = self.topic_synced(name.as_str()).await?.summary();
            let placed = cluster
                .metadata()
                .borrow()
                .0
                .topics
                .get(name.as_str())
                .map(|p| p.replicas.len() as u32);
            // The metadata may be ahead of the topic opened here.
            let current = placed.unwrap_or(summary.partitions).max(summary.partitions);
            super::partition_add::check_growth(name, current, count)?;
            if validate_only {
                return Ok(TopicSummary {
                    partitions: count,
                    ..summary
                });
            }
            let result = cluster
                .add_partitions(name.as_str(), count)
                .await
                .map_err(|failure| metadata_failure(name.as_str(), failure))?;
            if !applied(name.as_str(), result, CommandResult::PartitionsChanged).await? {
                continue;
            }
            let opening = Duration::from_millis(50) * (count - current);
            self.wait_for_partitions(name.as_str(), count, APPLY_TIMEOUT + opening)
                .await?;
            return Ok(self.topic(name.as_str())?.summary());
        }
        Err(BrokerError::Replication(format!(
            "the partition count of topic {:?} kept changing while partitions were added; retry",
            name.as_str()
        )))
    }

    /// Waits until this node serves `count` partitions of `name`.
    async fn wait_for_partitions(
        &self,
        name: &str,
        count: u32,
        limit: Duration,
    ) -> Result<(), BrokerError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let partitions = self.topic(name)?.partitions().len() as u32;
            if partitions >= count {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(BrokerError::Replication(format!(
                    "the cluster accepted the new partitions of topic {name:?}, but this node has not opened them yet"
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Deletes a replicated topic through the cluster's metadata, and waits until this
    /// node has removed it.
    pub(crate) async fn delete_topic_replicated(
        self: &Arc<Self>,
        cluster: &Arc<Cluster>,
        name: &str,
    ) -> Result<(), BrokerError> {
        TopicName::parse(name)?;
        let result = cluster
            .delete_topic(name)
            .await
            .map_err(|failure| BrokerError::Replication(failure.to_string()))?;
        if result == CommandResult::NotFound {
            return Err(BrokerError::TopicNotFound {
                topic: name.to_string(),
            });
        }
        self.wait_for_topic(name, false, APPLY_TIMEOUT).await
    }

    async fn wait_for_topic(
        &self,
        name: &str,
        present: bool,
        limit: Duration,
    ) -> Result<(), BrokerError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let exists = self
                .topics
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .contains_key(name);
            if exists == present {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(BrokerError::Replication(format!(
                    "the cluster accepted the change to topic {name:?}, but this node has not applied it yet"
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Appends `records` to one partition of a replicated topic, as one batch (of an
    /// idempotent producer when `producer` is given), once a majority holds it (with
    /// [`Acks::Leader`], once the leader does); with `expected`, only if the batch
    /// lands at that offset.
    pub(crate) async fn produce_replicated(
        &self,
        topic: &str,
        partition: u32,
        records: &[Record],
        producer: Option<ProducerBatch>,
        acks: Acks,
        expected: Option<u64>,
    ) -> Result<PartitionAppend, BrokerError> {
        let batch = encode(records, producer).map_err(|source| BrokerError::Append {
            topic: topic.to_string(),
            partition,
            source: Box::new(source),
        })?;
        let cluster = self
            .cluster()
            .ok_or_else(|| BrokerError::Internal(format!("topic {topic} is not replicated")))?;
        self.propose_batch(cluster, topic, partition, batch, acks, expected)
            .await
    }

    /// Proposes one encoded version 2 batch to the partition's group; returns once a
    /// majority holds it (with [`Acks::Leader`], once the leader does). With
    /// `expected`, the batch is written only if it lands at that offset.
    pub(crate) async fn propose_batch(
        &self,
        cluster: &Arc<Cluster>,
        topic: &str,
        partition: u32,
        batch: Bytes,
        acks: Acks,
        expected: Option<u64>,
    ) -> Result<PartitionAppend, BrokerError> {
        let ident = LogIdent::new(topic, partition);
        let proposed = cluster
            .propose(topic, partition, batch, acks, expected)
            .await
            .map_err(|failure| proposal_error(&ident, failure))?;
        Ok(PartitionAppend {
            partition,
            info: info_of(proposed),
        })
    }
}

/// Why a partition is not read here, naming where it is.
fn elsewhere(
    ident: &LogIdent,
    this: u64,
    holders: &[u64],
    nodes: &BTreeMap<u64, String>,
) -> String {
    let places: Vec<String> = holders
        .iter()
        .map(|id| match nodes.get(id) {
            Some(addr) => format!("node {id} ({addr})"),
            None => format!("node {id}"),
        })
        .collect();
    format!(
        "node {this} holds no replica of {ident}; read it from {}",
        places.join(", ")
    )
}

/// One version 2 batch of `records`, with the producer's fields when given.
fn encode(records: &[Record], producer: Option<ProducerBatch>) -> Result<Bytes, AppendError> {
    let meta = match producer {
        Some(p) => BatchMeta {
            producer_id: p.producer_id,
            producer_epoch: p.epoch,
            base_sequence: p.base_sequence,
            ..BatchMeta::default()
        },
        None => BatchMeta::default(),
    };
    let mut buf = Vec::new();
    let numbered = records.iter().enumerate().map(|(i, r)| (i as u32, r));
    batch_v2::encode(&mut buf, numbered, &meta).map_err(|e| AppendError::InvalidRecord {
        index: e.index,
        reason: e.reason,
    })?;
    Ok(Bytes::from(buf))
}

fn info_of(proposed: Proposed) -> AppendInfo {
    AppendInfo {
        base_offset: proposed.applied.base_offset,
        last_offset: proposed.applied.last_offset,
        max_timestamp_ms: proposed.applied.max_timestamp_ms,
        duplicate: proposed.duplicate,
    }
}

/// Whether a metadata command about topic `topic`, made conditional on the state its
/// proposer saw, applied: `false` when it raced another change (its `result` is
/// `raced`), after a pause that lets this node's view catch up with that change, so
/// the caller computes the command again; an error when the topic is gone.
pub(super) async fn applied(
    topic: &str,
    result: CommandResult,
    raced: CommandResult,
) -> Result<bool, BrokerError> {
    if result == CommandResult::NotFound {
        return Err(BrokerError::TopicNotFound {
            topic: topic.to_string(),
        });
    }
    if result == raced {
        tokio::time::sleep(Duration::from_millis(100)).await;
        return Ok(false);
    }
    Ok(true)
}

/// What a refused or failed metadata proposal about topic `topic` means to a client.
pub(super) fn metadata_failure(topic: &str, failure: ProposeFailure) -> BrokerError {
    match failure {
        ProposeFailure::Invalid(reason) => BrokerError::InvalidConfig {
            topic: topic.to_string(),
            reason,
        },
        other => BrokerError::Replication(other.to_string()),
    }
}

fn proposal_error(ident: &LogIdent, failure: ProposeFailure) -> BrokerError {
    match failure {
        ProposeFailure::Sequence(source) => BrokerError::Append {
            topic: ident.topic.clone(),
            partition: ident.partition,
            source: Box::new(AppendError::Sequence {
                log: ident.clone(),
                source,
            }),
        },
        ProposeFailure::OffsetMismatch { expected, actual } => BrokerError::Append {
            topic: ident.topic.clone(),
            partition: ident.partition,
            source: Box::new(AppendError::OffsetMismatch { expected, actual }),
        },
        ProposeFailure::Invalid(reason) => BrokerError::InvalidRequest(reason),
        other => BrokerError::Replication(format!("partition {ident}: {other}")),
    }
}

/// The cluster as this node sees it (see [`Broker::describe_cluster`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterDescription {
    /// This node's id (0 for a single node).
    pub node_id: u64,
    /// Every node and its address.
    pub nodes: BTreeMap<u64, String>,
    /// The Kafka address of every node that runs a Kafka listener and announced it.
    pub kafka: BTreeMap<u64, String>,
    /// Every partition of every topic, with its replication.
    pub partitions: Vec<crate::cluster::runtime::PartitionStatus>,
    /// The metadata group's leader, when known.
    pub metadata_leader: Option<u64>,
}

impl Broker {
    /// The cluster's nodes and each partition's replicas and leader; empty for a
    /// single node.
    pub fn describe_cluster(&self) -> Result<ClusterDescription, BrokerError> {
        self.accepting()?;
        let Some(cluster) = self.cluster() else {
            return Ok(ClusterDescription::default());
        };
        Ok(ClusterDescription {
            node_id: cluster.node_id(),
            nodes: cluster.nodes(),
            kafka: cluster
                .listeners()
                .into_iter()
                .filter_map(|(id, listeners)| Some((id, listeners.kafka?)))
                .collect(),
            partitions: cluster.status(),
            metadata_leader: cluster.metadata_leader(),
        })
    }
}
