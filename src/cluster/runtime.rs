//! The cluster as the broker sees it: this node, the metadata group, the partition
//! replicas it runs, and proposals routed to whichever node leads.
//!
//! - **Bootstrap**: with `--cluster`, the node with the lowest id initialises the
//!   metadata group with every listed node, once, on an empty directory. Afterwards the
//!   membership lives in that group; a `--cluster` list that differs from it is
//!   reported and not obeyed.
//! - **Proposals**: a batch for a partition goes to its group's leader: proposed here
//!   when this node leads, else handed to the leader over `ClusterControl.Propose`
//!   (following "not the leader" answers, for a bounded time). An idempotent
//!   producer's batch is checked against the leader's producer state first, under a
//!   per-partition lock held until it commits, since a proposed batch is written on
//!   every replica whatever it holds.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use openraft::error::{ClientWriteError, RaftError};
use tokio::sync::{mpsc, watch};

use super::acks::Acks;
use super::group_offsets::IndexedChange;
use super::groups::{METADATA_GROUP, partition_group};
use super::metadata::{
    ClusterState, Command, CommandResult, NodeListeners, TopicPlacement, place, place_more,
};
use super::metadata_machine::MetadataMachine;
use super::network::MAX_MESSAGE_BYTES;
use super::node::{ClusterNode, PartitionReplica, RaftTiming, ReplicaError};
use super::peer_security::PeerSecurity;
use super::propose::{ProposeFailure, Proposed};
use super::replica_log::ReplicaLog;
use super::types::{Applied, GroupRaft, NodeId, Outcome, Proposal, StoredMembership};
use crate::proto::cluster::cluster_control_client::ClusterControlClient;
use crate::proto::cluster::{ProposeMessage, RaftMessage};
use crate::storage::batch::BatchFormat;
use crate::storage::batch_v2::{self, BatchMeta};
use crate::storage::producer_state::ProducerBatch;
use crate::storage::{AppendError, FsyncPolicy, Log, LogConfig, LogIdent, Record};

/// How long a proposal may look for a leader before it fails.
pub const PROPOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// A node's cluster settings.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// This node's id.
    pub node_id: NodeId,
    /// The nodes to bootstrap an empty cluster with (id → address), this one included.
    pub bootstrap: BTreeMap<NodeId, String>,
    /// Where the metadata group's log lives.
    pub dir: PathBuf,
    /// Raft timing.
    pub timing: RaftTiming,
    /// Durability of the metadata log's appends.
    pub fsync: FsyncPolicy,
    /// The metadata group snapshots its state (and purges its log) after this many
    /// entries; group commits are entries, so this bounds the log's growth.
    pub metadata_snapshot_every: u64,
    /// How calls to other nodes are secured.
    pub security: PeerSecurity,
    /// How often the metadata leader hands partitions' leadership back to their
    /// preferred leaders (`None`: only when asked).
    pub leader_balance: Option<Duration>,
}

/// Default [`ClusterConfig::metadata_snapshot_every`].
pub const DEFAULT_METADATA_SNAPSHOT_EVERY: u64 = 10_000;

/// The metadata as last applied here: cluster state and the metadata group's
/// membership (which names every node and its address).
pub type MetadataView = (ClusterState, StoredMembership);

/// Serializes one partition's idempotent proposals on its leader.
type PartitionLock = Arc<tokio::sync::Mutex<()>>;

/// A node's view of the cluster and its replicas.
pub struct Cluster {
    config: ClusterConfig,
    node: ClusterNode,
    meta: GroupRaft,
    meta_log: Arc<Log>,
    metadata: watch::Receiver<MetadataView>,
    /// The metadata group's group changes, until the broker takes them.
    group_changes: Mutex<Option<mpsc::UnboundedReceiver<IndexedChange>>>,
    replicas: RwLock<HashMap<(String, u32), PartitionReplica>>,
    /// One lock per partition, serializing idempotent producers' proposals.
    idempotence: Mutex<HashMap<(String, u32), PartitionLock>>,
    /// Stops this node's background tasks (the leadership balancer).
    stop: tokio_util::sync::CancellationToken,
}

impl Cluster {
    /// Starts this node's side of the cluster: opens the metadata log, starts the
    /// metadata group, and bootstraps a new cluster when this node should.
    pub async fn start(config: ClusterConfig) -> Result<Arc<Cluster>, ReplicaError> {
        let node = ClusterNode::new(config.node_id, config.timing, &config.security)?;
        let dir = config.dir.join("meta");
        let log_config = LogConfig {
            batch_format: BatchFormat::V2,
            fsync: config.fsync,
            segment_bytes: 64 << 20,
            ..LogConfig::default()
        };
        let open_dir = dir.clone();
        let meta_log = tokio::task::spawn_blocking(move || {
            crate::storage::fsutil::create_dir_durable(&open_dir)
                .map_err(|e| e.to_string())
                .and_then(|()| {
                    Log::open(&open_dir, LogIdent::new("__cluster", 0), log_config)
                        .map_err(|e| e.to_string())
                })
        })
        .await
        .map_err(|e| ReplicaError::Setup(e.to_string()))?
        .map_err(|e| ReplicaError::Setup(format!("metadata log {}: {e}", dir.display())))?;
        let meta_log = Arc::new(meta_log);
        let opened = Arc::clone(&meta_log);
        let replica = tokio::task::spawn_blocking(move || ReplicaLog::open(opened, true))
            .await
            .map_err(|e| ReplicaError::Setup(e.to_string()))?
            .map_err(|e| ReplicaError::Setup(e.to_string()))?;
        let fresh = replica.state().get().vote.is_none() && replica.map().is_empty();
        let rejoining = fresh
            && !config.bootstrap.is_empty()
            && super::rejoin_guard::ran_before(node.channels(), config.node_id, &config.bootstrap)
                .await;
        if rejoining {
            // Before any group starts: none may vote until the groups took it back.
            node.begin_rejoin();
        }
        let committed = replica.state().get().committed;
        let (publish, metadata) = watch::channel(MetadataView::default());
        let (changes, group_changes) = mpsc::unbounded_channel();
        let machine = MetadataMachine::open(&dir, publish, changes)
            .map_err(|e| ReplicaError::Setup(format!("metadata snapshot: {e}")))?;
        let meta = node
            .start_metadata_group(Arc::new(replica), machine, config.metadata_snapshot_every)
            .await?;
        let cluster = Arc::new(Cluster {
            config,
            node,
            meta,
            meta_log,
            metadata,
            group_changes: Mutex::new(Some(group_changes)),
            replicas: RwLock::new(HashMap::new()),
            idempotence: Mutex::new(HashMap::new()),
            stop: tokio_util::sync::CancellationToken::new(),
        });
        // A rejoining node must not initialise the cluster it belongs to.
        cluster.bootstrap(fresh && !rejoining).await?;
        cluster.reapplied(committed).await;
        if rejoining {
            tokio::spawn(Arc::clone(&cluster).rejoin());
        }
        if let Some(every) = cluster.config.leader_balance {
            cluster.start_balancer(every, cluster.stop.clone());
        }
        Ok(cluster)
    }

    /// Waits (a bounded time) until the metadata committed before a restart is applied
    /// again, so the broker starts from the topics it served before.
    async fn reapplied(&self, committed: Option<super::types::LogId>) {
        let Some(committed) = committed else {
            return;
        };
        let mut metrics = self.meta.metrics();
        let wait = metrics.wait_for(|m| m.last_applied.is_some_and(|a| a.index >= committed.index));
        if tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .is_err()
        {
            tracing::warn!(
                committed = committed.index,
                "the metadata log was not applied again in time; topics appear as it is"
            );
        }
    }

    async fn bootstrap(&self, fresh: bool) -> Result<(), ReplicaError> {
        let bootstrap = &self.config.bootstrap;
        if !fresh {
            let known = self.nodes();
            if !bootstrap.is_empty() && !known.is_empty() && known != *bootstrap {
                tracing::warn!(
                    flag = ?bootstrap,
                    membership = ?known,
                    "--cluster differs from the cluster's membership, which is kept; it only bootstraps an empty directory"
                );
            }
            return Ok(());
        }
        if bootstrap.is_empty() {
            tracing::info!(
                node = self.config.node_id,
                "waiting to be added to a cluster (eventlog cluster add-node)"
            );
            return Ok(());
        }
        if bootstrap.keys().next() != Some(&self.config.node_id) {
            tracing::info!("waiting for the node with the lowest id to initialise the cluster");
            return Ok(());
        }
        let members = bootstrap
            .iter()
            .map(|(id, addr)| (*id, openraft::BasicNode::new(addr.clone())))
            .collect::<BTreeMap<_, _>>();
        tracing::info!(nodes = ?bootstrap, "initialising a new cluster");
        match self.meta.initialize(members).await {
            Ok(()) => Ok(()),
            Err(RaftError::APIError(openraft::error::InitializeError::NotAllowed(_))) => Ok(()),
            Err(e) => Err(ReplicaError::Setup(format!(
                "initialising the cluster: {e}"
            ))),
        }
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.config.node_id
    }

    /// The Raft timing every group of this node runs with.
    pub fn timing(&self) -> RaftTiming {
        self.config.timing
    }

    /// The gRPC services other nodes call on this one.
    pub fn node(&self) -> &ClusterNode {
        &self.node
    }

    /// The metadata as applied here, and changes to it.
    pub fn metadata(&self) -> watch::Receiver<MetadataView> {
        self.metadata.clone()
    }

    /// Every node of the cluster and its address, from the metadata membership.
    pub fn nodes(&self) -> BTreeMap<NodeId, String> {
        let view = self.metadata.borrow();
        view.1
            .membership()
            .nodes()
            .map(|(id, node)| (*id, node.addr.clone()))
            .collect()
    }

    /// The nodes that vote in the metadata group: every node but one still being added.
    pub fn voters(&self) -> BTreeSet<NodeId> {
        let view = self.metadata.borrow();
        view.1.membership().voter_ids().collect()
    }

    /// Node `id`'s address as `--cluster` gave it, for a node that does not know the
    /// membership yet.
    pub(super) fn bootstrap_address(&self, id: NodeId) -> Option<String> {
        self.config.bootstrap.get(&id).cloned()
    }

    /// The metadata group's Raft, for membership changes.
    pub(super) fn metadata_raft(&self) -> &GroupRaft {
        &self.meta
    }

    /// The metadata group's leader, as known here.
    pub fn metadata_leader(&self) -> Option<NodeId> {
        self.meta.metrics().borrow().current_leader
    }

    /// Places and creates a topic through the metadata group. `config` is the topic's
    /// configuration as the broker stores it.
    pub async fn create_topic(
        &self,
        name: &str,
        config: serde_json::Value,
        partitions: u32,
        replication_factor: usize,
    ) -> Result<CommandResult, ProposeFailure> {
        let nodes: Vec<NodeId> = self.voters().into_iter().collect();
        let shift = self.metadata.borrow().0.topics.len();
        let replicas = place(&nodes, partitions, replication_factor, shift)
            .map_err(ProposeFailure::Invalid)?;
        let command = Command::CreateTopic {
            name: name.to_string(),
            placement: TopicPlacement {
                config,
                replicas,
                moves: BTreeMap::new(),
            },
        };
        self.propose_metadata(command).await
    }

    /// Adds partitions to a topic through the metadata group, so that it has
    /// `partitions` in all, placing the new ones like its first ones. `NotFound` when
    /// the metadata here does not list the topic; `PartitionsChanged` when its count
    /// changed between this node's view and the proposal.
    pub async fn add_partitions(
        &self,
        name: &str,
        partitions: u32,
    ) -> Result<CommandResult, ProposeFailure> {
        let existing = match self.metadata.borrow().0.topics.get(name) {
            Some(placement) => placement.replicas.clone(),
            None => return Ok(CommandResult::NotFound),
        };
        let nodes: Vec<NodeId> = self.voters().into_iter().collect();
        let replicas =
            place_more(&nodes, &existing, partitions).map_err(ProposeFailure::Invalid)?;
        let command = Command::AddPartitions {
            name: name.to_string(),
            from: existing.len() as u32,
            replicas,
        };
        self.propose_metadata(command).await
    }

    /// Replaces a topic's configuration through the metadata group, if it is still
    /// `from` when the command applies (`ConfigChanged` otherwise; `NotFound` when the
    /// topic is gone).
    pub async fn alter_topic_config(
        &self,
        name: &str,
        from: serde_json::Value,
        config: serde_json::Value,
    ) -> Result<CommandResult, ProposeFailure> {
        let command = Command::AlterTopicConfig {
            name: name.to_string(),
            from,
            config,
        };
        self.propose_metadata(command).await
    }

    /// Records this node's client listeners in the cluster's metadata.
    pub async fn set_listeners(
        &self,
        listeners: NodeListeners,
    ) -> Result<CommandResult, ProposeFailure> {
        let command = Command::SetListeners {
            node: self.node_id(),
            listeners,
        };
        self.propose_metadata(command).await
    }

    /// The client listeners every node announced, from the metadata applied here.
    pub fn listeners(&self) -> BTreeMap<NodeId, NodeListeners> {
        self.metadata.borrow().0.listeners.clone()
    }

    /// Hands the producer named `name` its identity through the metadata group (see
    /// [`Command::InitProducer`]).
    pub async fn init_named_producer(
        &self,
        name: &str,
        fresh_id: i64,
        max_names: usize,
    ) -> Result<CommandResult, ProposeFailure> {
        let command = Command::InitProducer {
            name: name.to_string(),
            fresh_id,
            max_names,
        };
        self.propose_metadata(command).await
    }

    /// The newest epoch of the named producer `producer_id`, if it is one.
    pub fn named_producer_epoch(&self, producer_id: i64) -> Option<i16> {
        let view = self.metadata.borrow();
        view.0.named_producers.get(&producer_id).map(|p| p.epoch)
    }

    /// Deletes a topic through the metadata group.
    pub async fn delete_topic(&self, name: &str) -> Result<CommandResult, ProposeFailure> {
        self.propose_metadata(Command::DeleteTopic {
            name: name.to_string(),
        })
        .await
    }

    /// The consumer-group changes the metadata group applies here, in order, from
    /// the first (at start, the whole log is applied again). Only the first call gets
    /// them: one mirror per node.
    pub fn take_group_changes(&self) -> Option<mpsc::UnboundedReceiver<IndexedChange>> {
        self.group_changes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Proposes a metadata command through the metadata group's leader.
    pub async fn propose_metadata(
        &self,
        command: Command,
    ) -> Result<CommandResult, ProposeFailure> {
        Ok(self.propose_metadata_at(command).await?.0)
    }

    /// Proposes a metadata command through the metadata group's leader; returns what
    /// it did and the index of its entry (applied here once the group changes reach
    /// that index).
    pub async fn propose_metadata_at(
        &self,
        command: Command,
    ) -> Result<(CommandResult, u64), ProposeFailure> {
        let deadline = Instant::now() + PROPOSE_TIMEOUT;
        loop {
            let result = match self.metadata_leader() {
                Some(leader) if leader == self.node_id() => {
                    // As for a partition: a cut-off leader would wait for the heal.
                    let local = self.propose_metadata_local(command.clone());
                    match tokio::time::timeout_at(deadline.into(), local).await {
                        Ok(result) => result,
                        Err(_) => {
                            return Err(ProposeFailure::NoLeader {
                                topic: METADATA_GROUP.into(),
                                partition: 0,
                                reason: uncommitted_here(),
                            });
                        }
                    }
                }
                Some(leader) => self.propose_metadata_remote(leader, &command).await,
                None => Err(ProposeFailure::NotLeader { leader: None }),
            };
            match result {
                Err(ProposeFailure::NotLeader { .. }) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(ProposeFailure::NotLeader { .. }) => {
                    return Err(ProposeFailure::NoLeader {
                        topic: METADATA_GROUP.into(),
                        partition: 0,
                        reason: "the metadata group has no leader (is a majority of nodes up?)"
                            .into(),
                    });
                }
                other => return other,
            }
        }
    }

    /// Proposes a metadata command here; this node must lead the metadata group.
    pub async fn propose_metadata_local(
        &self,
        command: Command,
    ) -> Result<(CommandResult, u64), ProposeFailure> {
        let json =
            serde_json::to_vec(&command).map_err(|e| ProposeFailure::Invalid(e.to_string()))?;
        let batch = single_record_batch(Bytes::from(json))?;
        match self.meta.client_write(Proposal::new(batch)).await {
            Ok(response) => match response.data {
                Outcome::Metadata(result) => Ok((result, response.log_id.index)),
                other => Err(ProposeFailure::Failed(format!(
                    "unexpected outcome {other:?}"
                ))),
            },
            Err(e) => Err(write_failure(e)),
        }
    }

    async fn propose_metadata_remote(
        &self,
        leader: NodeId,
        command: &Command,
    ) -> Result<(CommandResult, u64), ProposeFailure> {
        let mut client = self.control_client(leader)?;
        let body =
            serde_json::to_vec(command).map_err(|e| ProposeFailure::Invalid(e.to_string()))?;
        let message = RaftMessage {
            group: METADATA_GROUP.into(),
            body: body.into(),
        };
        let request = self.node.channels().request(message, PROPOSE_TIMEOUT);
        match client.propose_metadata(request).await {
            Ok(reply) => decode_reply(&reply.into_inner().body),
            Err(status) => {
                tracing::debug!(leader, %status, "forwarding a metadata command failed");
                Err(ProposeFailure::NotLeader { leader: None })
            }
        }
    }

    /// The channel to member `node`, at the address the metadata group knows for it.
    pub(super) fn member_channel(&self, node: NodeId) -> Result<tonic::transport::Channel, String> {
        let addr = self
            .nodes()
            .get(&node)
            .cloned()
            .ok_or_else(|| format!("node {node} has no known address"))?;
        self.node.channels().get(node, &addr)
    }

    pub(super) fn control_client(
        &self,
        node: NodeId,
    ) -> Result<ClusterControlClient<tonic::transport::Channel>, ProposeFailure> {
        let addr = self
            .nodes()
            .get(&node)
            .cloned()
            .ok_or(ProposeFailure::NotLeader { leader: None })?;
        let channel = self
            .node
            .channels()
            .get(node, &addr)
            .map_err(ProposeFailure::Failed)?;
        Ok(ClusterControlClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES))
    }

    /// The placement of `topic`'s partition, as applied here.
    pub fn replicas_of(&self, topic: &str, partition: u32) -> Option<Vec<NodeId>> {
        let view = self.metadata.borrow();
        view.0
            .topics
            .get(topic)
            .and_then(|t| t.replicas.get(partition as usize).cloned())
    }

    /// Starts this node's replica of a partition over `log`, publishing its commit
    /// watermark to `commit`, and makes sure its group is initialised (every replica
    /// proposes the same first membership, which Raft allows).
    pub async fn start_replica(
        &self,
        topic: &str,
        partition: u32,
        log: Arc<Log>,
        commit: watch::Sender<u64>,
    ) -> Result<PartitionReplica, ReplicaError> {
        let replicas = self
            .replicas_of(topic, partition)
            .ok_or_else(|| ReplicaError::Setup(format!("no placement for {topic}/{partition}")))?;
        let name = partition_group(topic, partition);
        let replica = self.node.start_partition(name, log, commit).await?;
        let nodes = self.nodes();
        let members = replicas
            .iter()
            .filter_map(|id| {
                nodes
                    .get(id)
                    .map(|addr| (*id, openraft::BasicNode::new(addr.clone())))
            })
            .collect::<BTreeMap<_, _>>();
        let fresh = replica.raft().metrics().borrow().current_term == 0;
        // A partition whose replicas were moved has a group already: a node gaining a
        // replica of it waits for the leader to add it, since a first membership of
        // its own would contradict the group's.
        if self.moved(topic, partition) {
            self.register_replica(topic, partition, &replica);
            return Ok(replica);
        }
        replica.initialize(members).await?;
        // A new partition's preferred leader (its first replica) stands at once rather
        // than after an election timeout, so leaders spread as placement spreads them
        // instead of going to whichever node started its groups first. Only for a new
        // group: a node restarting into a group with a leader would only disturb it.
        if fresh
            && replicas.first() == Some(&self.node_id())
            && !self.node.rejoining()
            && let Err(error) = replica.raft().trigger().elect().await
        {
            tracing::debug!(topic, partition, %error, "could not stand for election");
        }
        self.register_replica(topic, partition, &replica);
        Ok(replica)
    }

    fn register_replica(&self, topic: &str, partition: u32, replica: &PartitionReplica) {
        self.replicas
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((topic.to_string(), partition), replica.clone());
    }

    /// Whether a partition's replicas were ever reassigned.
    pub fn moved(&self, topic: &str, partition: u32) -> bool {
        let view = self.metadata.borrow();
        view.0
            .topics
            .get(topic)
            .is_some_and(|t| t.moves.contains_key(&partition))
    }

    /// Whether this node must keep running its replica of a partition that no longer
    /// places one here: a move away from it is not done yet, and the group may still
    /// count it among its voters.
    pub fn keeps_replica(&self, topic: &str, partition: u32) -> bool {
        let view = self.metadata.borrow();
        view.0
            .topics
            .get(topic)
            .and_then(|t| t.moves.get(&partition))
            .is_some_and(|m| !m.done && m.from.contains(&self.node_id()))
    }

    /// Stops this node's replica of a partition, if it runs one.
    pub async fn stop_replica(&self, topic: &str, partition: u32) {
        let removed = self
            .replicas
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(topic.to_string(), partition));
        if removed.is_some() {
            self.node
                .stop_group(&partition_group(topic, partition))
                .await;
        }
    }

    /// This node's replica of a partition, if it runs one.
    pub fn replica(&self, topic: &str, partition: u32) -> Option<PartitionReplica> {
        self.replicas
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(topic.to_string(), partition))
            .cloned()
    }

    /// Replicates `batch` to a partition through its leader, wherever it is, and
    /// returns where it landed once committed (with [`Acks::Leader`], once the
    /// leader's log holds it).
    pub async fn propose(
        &self,
        topic: &str,
        partition: u32,
        batch: Bytes,
        acks: Acks,
        expected: Option<u64>,
    ) -> Result<Proposed, ProposeFailure> {
        let deadline = Instant::now() + PROPOSE_TIMEOUT;
        let replicas = self.replicas_of(topic, partition).unwrap_or_default();
        let mut hint: Option<NodeId> = None;
        let mut attempt = 0usize;
        let mut last_error = String::from("no replica answered");
        loop {
            let target = hint
                .take()
                .or_else(|| self.replica(topic, partition).and_then(|r| self.route(&r)))
                .or_else(|| replicas.get(attempt % replicas.len().max(1)).copied());
            attempt += 1;
            let result = match target {
                Some(id) if id == self.node_id() => {
                    // A leader cut off from its majority still believes it leads (only a
                    // higher term deposes it), so its proposal would wait until the
                    // network heals: give up at the deadline instead.
                    let local = self.propose_local(topic, partition, batch.clone(), acks, expected);
                    match tokio::time::timeout_at(deadline.into(), local).await {
                        Ok(result) => result,
                        Err(_) => {
                            return Err(ProposeFailure::NoLeader {
                                topic: topic.into(),
                                partition,
                                reason: uncommitted_here(),
                            });
                        }
                    }
                }
                Some(id) => {
                    self.propose_remote(id, topic, partition, batch.clone(), acks, expected)
                        .await
                }
                None => Err(ProposeFailure::NotLeader { leader: None }),
            };
            match result {
                // As during an election: the partition will have a leader taking
                // batches again in a moment, so wait for it here rather than fail.
                Err(ProposeFailure::HandingOver { to }) if Instant::now() < deadline => {
                    last_error = format!(
                        "node {} was handing its leadership to node {to}",
                        target.unwrap_or_default()
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(ProposeFailure::NotLeader { .. } | ProposeFailure::HandingOver { .. })
                    if Instant::now() >= deadline =>
                {
                    return Err(ProposeFailure::NoLeader {
                        topic: topic.into(),
                        partition,
                        reason: last_error,
                    });
                }
                Err(ProposeFailure::NotLeader { leader }) => {
                    last_error = match (&leader, target) {
                        (Some((id, _)), _) => format!("node {id} was named leader"),
                        (None, Some(id)) => format!("node {id} does not lead and knows no leader"),
                        (None, None) => "no replica is known".into(),
                    };
                    hint = leader.map(|(id, _)| id);
                    if hint.is_none() {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                other => return other,
            }
        }
    }

    /// Where to send a proposal for `replica`'s group: here when this node leads, else
    /// the leader it names (a stale claim of this node's own leadership names none).
    fn route(&self, replica: &PartitionReplica) -> Option<NodeId> {
        if replica.is_leader() {
            return Some(self.node_id());
        }
        replica.leader().filter(|l| *l != self.node_id())
    }

    async fn propose_remote(
        &self,
        node: NodeId,
        topic: &str,
        partition: u32,
        batch: Bytes,
        acks: Acks,
        expected: Option<u64>,
    ) -> Result<Proposed, ProposeFailure> {
        let mut client = self.control_client(node)?;
        let message = ProposeMessage {
            topic: topic.to_string(),
            partition,
            batch,
            acks_leader: acks == Acks::Leader,
            expected_next_offset: expected,
        };
        let request = self.node.channels().request(message, PROPOSE_TIMEOUT);
        // A conditional batch goes by its own method: a node that predates it answers
        // UNIMPLEMENTED rather than ignore the condition and append anyway.
        let answer = match expected {
            Some(_) => client.propose_expecting(request).await,
            None => client.propose(request).await,
        };
        match answer {
            Ok(reply) => decode_reply(&reply.into_inner().body),
            Err(status) if status.code() == tonic::Code::Unimplemented => {
                Err(ProposeFailure::Failed(format!(
                    "node {node} leads the partition but runs a version that cannot check \
                     expected_next_offset; nothing was written"
                )))
            }
            Err(status) => {
                tracing::debug!(node, %status, "forwarding a batch failed");
                Err(ProposeFailure::NotLeader { leader: None })
            }
        }
    }

    /// Proposes `batch` through this node's replica, which must lead its group.
    pub async fn propose_local(
        &self,
        topic: &str,
        partition: u32,
        batch: Bytes,
        acks: Acks,
        expected: Option<u64>,
    ) -> Result<Proposed, ProposeFailure> {
        let replica = self
            .replica(topic, partition)
            .ok_or(ProposeFailure::NotLeader { leader: None })?;
        let header = batch_v2::unchecked_header(&batch)
            .filter(|h| h.length as usize == batch.len())
            .ok_or_else(|| ProposeFailure::Invalid("not one version 2 batch".into()))?;
        if !replica.is_leader() {
            return Err(ProposeFailure::NotLeader {
                leader: self.leader_hint(&replica),
            });
        }
        // Held until the batch is committed: a handover waits for every batch inside.
        let _pass = replica
            .gate()
            .enter()
            .map_err(|to| ProposeFailure::HandingOver { to })?;
        if header.producer_id < 0 {
            return self.commit(&replica, batch, acks, expected).await;
        }
        let lock = {
            let mut locks = self
                .idempotence
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            Arc::clone(locks.entry((topic.to_string(), partition)).or_default())
        };
        let _serialized = lock.lock().await;
        if !replica.is_leader() {
            return Err(ProposeFailure::NotLeader { leader: None });
        }
        let producer = ProducerBatch {
            producer_id: header.producer_id,
            epoch: header.producer_epoch,
            base_sequence: header.base_sequence,
        };
        let log = Arc::clone(replica.log());
        let verdict =
            tokio::task::spawn_blocking(move || log.check_producer(&producer, header.record_count))
                .await
                .map_err(|e| ProposeFailure::Failed(e.to_string()))?;
        match verdict {
            Ok(None) => self.commit(&replica, batch, acks, expected).await,
            // The original is in this leader's log, which is all acks=leader asks.
            Ok(Some(done)) if acks == Acks::Leader => Ok(Proposed {
                applied: Applied {
                    base_offset: done.base_offset,
                    last_offset: done.last_offset,
                    max_timestamp_ms: header.max_timestamp,
                },
                duplicate: true,
            }),
            Ok(Some(done)) => {
                // Answered only once the original is committed, like the original, and
                // only if it is still there: an original this leader wrote in an
                // earlier term may have been cut (its offsets reused) when it followed.
                wait_committed(&replica, done.last_offset + 1).await?;
                let log = Arc::clone(replica.log());
                let still = tokio::task::spawn_blocking(move || {
                    log.check_producer(&producer, header.record_count)
                })
                .await
                .map_err(|e| ProposeFailure::Failed(e.to_string()))?;
                if !matches!(still, Ok(Some(again)) if again == done) {
                    return Err(ProposeFailure::NotLeader { leader: None });
                }
                Ok(Proposed {
                    applied: Applied {
                        base_offset: done.base_offset,
                        last_offset: done.last_offset,
                        max_timestamp_ms: header.max_timestamp,
                    },
                    duplicate: true,
                })
            }
            // The producer state of a leader that was deposed without knowing it may
            // lack newer batches: refuse only once a majority confirms the leadership.
            Err(AppendError::Sequence { source, .. }) => match replica.confirm_leader().await {
                true => Err(ProposeFailure::Sequence(source)),
                false => Err(ProposeFailure::NotLeader { leader: None }),
            },
            Err(other) => Err(ProposeFailure::Failed(other.to_string())),
        }
    }

    /// The leader `replica`'s group names, with its address, unless that is this node.
    fn leader_hint(&self, replica: &PartitionReplica) -> Option<(NodeId, String)> {
        let leader = replica.leader().filter(|l| *l != self.node_id())?;
        Some((leader, self.nodes().get(&leader)?.clone()))
    }

    async fn commit(
        &self,
        replica: &PartitionReplica,
        batch: Bytes,
        acks: Acks,
        expected: Option<u64>,
    ) -> Result<Proposed, ProposeFailure> {
        // Refused without an entry when the batch cannot land at the expected offset:
        // the leader's log only grows while it leads, so once past it, never; short of
        // it, only if other batches in flight fill the gap, and with none in the gate
        // none will. Otherwise the log store decides as it appends, and a refusal
        // there leaves a placeholder (see `acks::Landed::Refused`).
        if let Some(expected) = expected {
            let actual = replica.log().next_offset();
            if actual > expected || (actual < expected && replica.gate().alone()) {
                return Err(ProposeFailure::OffsetMismatch { expected, actual });
            }
        }
        // A leader cut off from its majority does not know it yet and would wait for
        // the commit for as long as the cut lasts: the client gets an answer instead.
        let proposal = replica.propose(batch, acks, expected);
        let Ok(result) = tokio::time::timeout(PROPOSE_TIMEOUT, proposal).await else {
            return Err(ProposeFailure::Failed(format!(
                "the batch was not committed within {} s (is a majority of the partition's \
                 replicas reachable?); it may still be committed later, so only an idempotent \
                 producer's retry is sure not to write it twice",
                PROPOSE_TIMEOUT.as_secs()
            )));
        };
        match result {
            Ok(applied) => Ok(Proposed {
                applied,
                duplicate: false,
            }),
            Err(ReplicaError::NotLeader { leader }) => Err(ProposeFailure::NotLeader { leader }),
            Err(ReplicaError::OffsetMismatch { expected, actual }) => {
                Err(ProposeFailure::OffsetMismatch { expected, actual })
            }
            Err(other) => Err(ProposeFailure::Failed(other.to_string())),
        }
    }

    /// Stops every group of this node and closes the metadata log.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        let replicas: Vec<(String, u32)> = self
            .replicas
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        for (topic, partition) in replicas {
            self.stop_replica(&topic, partition).await;
        }
        self.node.shutdown().await;
        let log = Arc::clone(&self.meta_log);
        let _ = tokio::task::spawn_blocking(move || log.close()).await;
    }
}

/// Why a proposal this node led did not commit in time.
fn uncommitted_here() -> String {
    format!(
        "this node leads it, but no majority of its replicas stored the entry within {} s \
         (are they cut off from this node?); it may still be committed later, so only an \
         idempotent producer's retry is sure not to write it twice",
        PROPOSE_TIMEOUT.as_secs()
    )
}

/// Waits until `replica` has committed everything below `offset`.
async fn wait_committed(replica: &PartitionReplica, offset: u64) -> Result<(), ProposeFailure> {
    let mut watch = replica.watch_commit();
    let wait = watch.wait_for(|c| *c >= offset);
    match tokio::time::timeout(PROPOSE_TIMEOUT, wait).await {
        Ok(Ok(_)) => Ok(()),
        _ => Err(ProposeFailure::Failed(format!(
            "the original batch ending at offset {} did not commit in time",
            offset - 1
        ))),
    }
}

/// A batch of one record holding `value`, for metadata commands.
fn single_record_batch(value: Bytes) -> Result<Bytes, ProposeFailure> {
    let record = Record {
        value: Some(value),
        timestamp_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
        ..Record::default()
    };
    let mut buf = Vec::new();
    batch_v2::encode(
        &mut buf,
        std::iter::once((0, &record)),
        &BatchMeta::default(),
    )
    .map_err(|e| ProposeFailure::Invalid(e.reason))?;
    Ok(Bytes::from(buf))
}

fn write_failure(
    e: RaftError<NodeId, ClientWriteError<NodeId, openraft::BasicNode>>,
) -> ProposeFailure {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => ProposeFailure::NotLeader {
            leader: f.leader_id.zip(f.leader_node.map(|n| n.addr)),
        },
        other => ProposeFailure::Failed(other.to_string()),
    }
}

fn decode_reply<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ProposeFailure> {
    serde_json::from_slice::<Result<T, ProposeFailure>>(body)
        .map_err(|e| ProposeFailure::Failed(format!("undecodable reply: {e}")))?
}

/// One partition's replication as this node sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionStatus {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// The nodes holding replicas, preferred leader first.
    pub replicas: Vec<NodeId>,
    /// The leader, when this node holds a replica and knows it.
    pub leader: Option<NodeId>,
    /// When this node leads: each follower and the entries it lacks (`None` while
    /// unknown).
    pub followers: Vec<(NodeId, Option<u64>)>,
}

impl Cluster {
    /// Every partition of every topic, with what this node knows of its replication.
    pub fn status(&self) -> Vec<PartitionStatus> {
        let state = self.metadata.borrow().0.clone();
        let mut out = Vec::new();
        for (topic, placement) in &state.topics {
            for (number, replicas) in placement.replicas.iter().enumerate() {
                let partition = number as u32;
                let mut status = PartitionStatus {
                    topic: topic.clone(),
                    partition,
                    replicas: replicas.clone(),
                    leader: None,
                    followers: Vec::new(),
                };
                if let Some(replica) = self.replica(topic, partition) {
                    let metrics = replica.raft().metrics().borrow().clone();
                    status.leader = metrics.current_leader;
                    if let Some(replication) = &metrics.replication {
                        let last = metrics.last_log_index.unwrap_or(0);
                        status.followers = replication
                            .iter()
                            .filter(|(id, _)| **id != self.node_id())
                            .map(|(id, matched)| {
                                (*id, matched.map(|m| last.saturating_sub(m.index)))
                            })
                            .collect();
                    }
                }
                out.push(status);
            }
        }
        out
    }
}
