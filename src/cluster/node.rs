//! A cluster node: its id, its Raft timing, the channels to its peers, and the
//! replication groups it runs, each started over a partition log.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use openraft::error::{ClientWriteError, InitializeError, RaftError};
use tokio::sync::watch;

use super::acks::{Acks, Landed, LocalAck};
use super::groups::Groups;
use super::log_store::LogStore;
use super::network::{Channels, GroupNetwork};
use super::peer_security::PeerSecurity;
use super::replica_log::ReplicaLog;
use super::state_machine::PartitionMachine;
use super::transport::TransportService;
use super::types::{Applied, GroupConfig, GroupRaft, Node, NodeId, Outcome, Proposal};
use super::write_gate::WriteGate;
use crate::storage::Log;

/// Raft timing shared by every group of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaftTiming {
    /// How often a leader sends heartbeats, in milliseconds.
    pub heartbeat_ms: u64,
    /// Shortest time without a leader before a follower stands for election.
    pub election_min_ms: u64,
    /// Longest such time (each group picks at random in between).
    pub election_max_ms: u64,
}

impl Default for RaftTiming {
    /// Elections after 600 to 1200 ms of silence and heartbeats every 200 ms: a dead
    /// leader is replaced in about 2 s on a local network (measured with
    /// `scripts/cluster-failover-time.sh`), three heartbeats may go missing before an
    /// election, and an idle node with hundreds of groups spends little on heartbeats
    /// (`scripts/cluster-idle.sh`).
    fn default() -> Self {
        RaftTiming {
            heartbeat_ms: 200,
            election_min_ms: 600,
            election_max_ms: 1200,
        }
    }
}

/// Why a replication operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    /// This node does not lead the group; the leader, when known, is named.
    #[error("this node is not the leader{}", leader_text(.leader))]
    NotLeader {
        /// The leader's id and address, if known.
        leader: Option<(NodeId, String)>,
    },
    /// The group stopped (shutdown, or a storage failure that Raft cannot survive).
    #[error("the replication group stopped: {0}")]
    Stopped(String),
    /// The group could not be started or configured.
    #[error("{0}")]
    Setup(String),
    /// A conditional proposal found the log's next offset elsewhere than expected;
    /// nothing of its batch was written.
    #[error("expected the next offset to be {expected}, but it is {actual}")]
    OffsetMismatch {
        /// The offset the batch was to land at.
        expected: u64,
        /// The log's next offset.
        actual: u64,
    },
}

fn leader_text(leader: &Option<(NodeId, String)>) -> String {
    match leader {
        Some((id, addr)) => format!("; node {id} at {addr} is"),
        None => "; no leader is known yet".into(),
    }
}

/// A node of the cluster.
pub struct ClusterNode {
    id: NodeId,
    groups: Arc<Groups>,
    channels: Arc<Channels>,
    config: Arc<openraft::Config>,
}

impl ClusterNode {
    /// A node with id `id`, the given timing, and calls to peers secured by `security`.
    pub fn new(
        id: NodeId,
        timing: RaftTiming,
        security: &PeerSecurity,
    ) -> Result<ClusterNode, ReplicaError> {
        let config = openraft::Config {
            cluster_name: "eventlog".into(),
            heartbeat_interval: timing.heartbeat_ms,
            election_timeout_min: timing.election_min_ms,
            election_timeout_max: timing.election_max_ms,
            // A partition's snapshot is its position, not its data, built only when
            // retention asks for one (see `log_trim`)...
            snapshot_policy: openraft::SnapshotPolicy::Never,
            // ...and entries go only when retention purges them, never because a
            // snapshot was built.
            max_in_snapshot_log_to_keep: u64::MAX,
            ..openraft::Config::default()
        };
        let config = config
            .validate()
            .map_err(|e| ReplicaError::Setup(format!("invalid Raft timing: {e}")))?;
        Ok(ClusterNode {
            id,
            groups: Arc::new(Groups::default()),
            channels: Arc::new(Channels::new(security).map_err(ReplicaError::Setup)?),
            config: Arc::new(config),
        })
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The channels to this node's peers.
    pub fn channels(&self) -> &Arc<Channels> {
        &self.channels
    }

    /// Starts the group `name` over `replica` with the state machine `machine`.
    pub async fn start_group<SM>(
        &self,
        name: &str,
        replica: Arc<ReplicaLog>,
        machine: SM,
    ) -> Result<GroupRaft, ReplicaError>
    where
        SM: openraft::storage::RaftStateMachine<super::types::GroupConfig>,
    {
        let config = Arc::clone(&self.config);
        self.start_group_with(name, replica, machine, config).await
    }

    /// Starts the metadata group, which snapshots its state every `snapshot_every`
    /// entries and then purges the entries older than one more such interval (a
    /// follower further behind is sent the snapshot).
    pub async fn start_metadata_group<SM>(
        &self,
        replica: Arc<ReplicaLog>,
        machine: SM,
        snapshot_every: u64,
    ) -> Result<GroupRaft, ReplicaError>
    where
        SM: openraft::storage::RaftStateMachine<super::types::GroupConfig>,
    {
        let every = snapshot_every.max(1);
        let config = openraft::Config {
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(every),
            max_in_snapshot_log_to_keep: every,
            ..(*self.config).clone()
        };
        let config = config
            .validate()
            .map_err(|e| ReplicaError::Setup(format!("invalid metadata group settings: {e}")))?;
        let name = super::groups::METADATA_GROUP;
        self.start_group_with(name, replica, machine, Arc::new(config))
            .await
    }

    async fn start_group_with<SM>(
        &self,
        name: &str,
        replica: Arc<ReplicaLog>,
        machine: SM,
        config: Arc<openraft::Config>,
    ) -> Result<GroupRaft, ReplicaError>
    where
        SM: openraft::storage::RaftStateMachine<super::types::GroupConfig>,
    {
        let network = GroupNetwork::new(Arc::clone(&self.channels), name.to_string());
        let raft = GroupRaft::new(self.id, config, network, LogStore::new(replica), machine)
            .await
            .map_err(|e| ReplicaError::Setup(format!("group {name}: {e}")))?;
        if self.groups.rejoining() {
            // A node that lost its data may have voted in the terms ahead; it stands
            // for no election until its groups have taken it back (`super::rejoin`).
            raft.runtime_config().elect(false);
        }
        if let Some(old) = self.groups.insert(name.to_string(), raft.clone()) {
            let _ = old.shutdown().await;
        }
        Ok(raft)
    }

    /// Whether this node is rejoining after losing its data (see `super::rejoin`).
    pub fn rejoining(&self) -> bool {
        self.groups.rejoining()
    }

    /// Starts rejoining: from now on no group of this node votes or stands for
    /// election. Called before any group starts.
    pub fn begin_rejoin(&self) {
        self.groups.set_rejoining(true);
    }

    /// Ends rejoining: every group votes and stands for election again.
    pub fn finish_rejoin(&self) {
        self.groups.set_rejoining(false);
        for (_, raft) in self.groups.all() {
            raft.runtime_config().elect(true);
        }
    }

    /// Stops the group `name`, if it runs.
    pub async fn stop_group(&self, name: &str) {
        if let Some(raft) = self.groups.remove(name)
            && let Err(error) = raft.shutdown().await
        {
            tracing::warn!(group = %name, %error, "stopping a replication group failed");
        }
    }

    /// The gRPC service that receives other nodes' Raft messages for this node's groups.
    pub fn transport(&self) -> TransportService {
        TransportService::new(Arc::clone(&self.groups))
    }

    /// Starts the group `name` over a partition `log`, publishing its commit watermark
    /// to `commit`.
    pub async fn start_partition(
        &self,
        name: String,
        log: Arc<Log>,
        commit: watch::Sender<u64>,
    ) -> Result<PartitionReplica, ReplicaError> {
        let opened = Arc::clone(&log);
        let replica = tokio::task::spawn_blocking(move || ReplicaLog::open(opened, false))
            .await
            .map_err(|e| ReplicaError::Setup(e.to_string()))?
            .map_err(|e| ReplicaError::Setup(e.to_string()))?;
        let replica = Arc::new(replica);
        let watermark = commit.subscribe();
        let machine = PartitionMachine::new(Arc::clone(&replica), commit);
        let raft = self
            .start_group(&name, Arc::clone(&replica), machine)
            .await?;
        Ok(PartitionReplica {
            name,
            raft,
            log,
            replica,
            watermark,
            gate: Arc::default(),
        })
    }

    /// Stops every group of the node.
    pub async fn shutdown(&self) {
        for (name, raft) in self.groups.all() {
            self.groups.remove(&name);
            if let Err(error) = raft.shutdown().await {
                tracing::warn!(group = %name, %error, "stopping a replication group failed");
            }
        }
    }
}

/// One partition replica's group, as the broker uses it.
#[derive(Clone)]
pub struct PartitionReplica {
    name: String,
    raft: GroupRaft,
    log: Arc<Log>,
    replica: Arc<ReplicaLog>,
    watermark: watch::Receiver<u64>,
    gate: Arc<WriteGate>,
}

impl PartitionReplica {
    /// The group's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The replica's partition log.
    pub fn log(&self) -> &Arc<Log> {
        &self.log
    }

    /// The running Raft group.
    pub fn raft(&self) -> &GroupRaft {
        &self.raft
    }

    /// The gate this replica's proposals pass while it leads (closed by a handover).
    pub fn gate(&self) -> &Arc<WriteGate> {
        &self.gate
    }

    /// The replica's log with its Raft numbering.
    pub(super) fn replica_log(&self) -> &Arc<ReplicaLog> {
        &self.replica
    }

    /// Makes `members` the group's first membership. Only one node of a new group
    /// calls this; calling it on a group that already has a log changes nothing.
    pub async fn initialize(&self, members: BTreeMap<NodeId, Node>) -> Result<(), ReplicaError> {
        match self.raft.initialize(members).await {
            Ok(()) => Ok(()),
            Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(()),
            Err(e) => Err(ReplicaError::Setup(format!("group {}: {e}", self.name))),
        }
    }

    /// Replicates one encoded version 2 batch and returns the offsets it landed at:
    /// with [`Acks::All`] once a majority of the group holds it durably and it is
    /// committed; with [`Acks::Leader`] once this leader's own log holds it durably
    /// (see [`super::acks`] for what that risks). With `expected`, the batch is
    /// written only if it lands at exactly that offset in this leader's log, else
    /// [`ReplicaError::OffsetMismatch`] (nothing of it is written).
    pub async fn propose(
        &self,
        batch: Bytes,
        acks: Acks,
        expected: Option<u64>,
    ) -> Result<Applied, ReplicaError> {
        if acks == Acks::Leader || expected.is_some() {
            return self.propose_watched(batch, acks, expected).await;
        }
        written(self.raft.client_write(Proposal::new(batch)).await)
    }

    /// [`Self::propose`] with a notice from this node's log store: answered on the
    /// notice when it refuses the batch or when [`Acks::Leader`] asks no more, else on
    /// the commit; whichever comes first.
    async fn propose_watched(
        &self,
        batch: Bytes,
        acks: Acks,
        expected: Option<u64>,
    ) -> Result<Applied, ReplicaError> {
        let (ack, mut landed) = LocalAck::expecting(expected);
        let committed = self
            .raft
            .client_write_ff(Proposal(batch, ack))
            .await
            .map_err(|e| ReplicaError::Stopped(e.to_string()))?;
        tokio::pin!(committed);
        let mut heard = false;
        loop {
            tokio::select! {
                // A notice dropped unsent means the entry never reached this node's log
                // (the node no longer leads): the commit's answer says why.
                Ok(notice) = &mut landed, if !heard => match notice {
                    Landed::Refused { expected, next_offset } => {
                        return Err(ReplicaError::OffsetMismatch { expected, actual: next_offset });
                    }
                    Landed::At(applied) if acks == Acks::Leader => return Ok(applied),
                    Landed::At(_) => heard = true,
                },
                result = &mut committed => return match result {
                    Ok(result) => written(result.map_err(RaftError::APIError)),
                    Err(_) => Err(ReplicaError::Stopped("the group stopped".into())),
                },
            }
        }
    }

    /// One past the last committed offset: what consumers may read below.
    pub fn commit_offset(&self) -> u64 {
        *self.watermark.borrow()
    }

    /// A receiver that sees the commit watermark move.
    pub fn watch_commit(&self) -> watch::Receiver<u64> {
        self.watermark.clone()
    }

    /// The group's current leader, as this node knows it.
    pub fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow().current_leader
    }

    /// Whether this node acts as the group's leader now. Stricter than
    /// `leader() == Some(self)`: a node restarted after leading an old term names
    /// itself leader (its stored vote says so) until it hears from the new leader, but
    /// acts as a follower meanwhile.
    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().state == openraft::ServerState::Leader
    }

    /// Confirms with a majority that this node still leads (one round trip): a leader
    /// cut off from the others may not know it was deposed.
    pub async fn confirm_leader(&self) -> bool {
        // Without a reachable majority the confirmation never comes: bounded, the
        // answer is "not confirmed".
        let confirm = self.raft.ensure_linearizable();
        matches!(
            tokio::time::timeout(std::time::Duration::from_secs(5), confirm).await,
            Ok(Ok(_))
        )
    }
}

/// The offsets a committed write landed at, or why it did not commit.
fn written(
    result: Result<
        openraft::raft::ClientWriteResponse<GroupConfig>,
        RaftError<NodeId, ClientWriteError<NodeId, Node>>,
    >,
) -> Result<Applied, ReplicaError> {
    match result {
        Ok(response) => match response.data {
            Outcome::Appended(applied) => Ok(applied),
            _ => Err(ReplicaError::Stopped(
                "a committed batch reported no offsets".into(),
            )),
        },
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
            Err(ReplicaError::NotLeader {
                leader: f.leader_id.zip(f.leader_node.map(|n| n.addr)),
            })
        }
        Err(e) => Err(ReplicaError::Stopped(e.to_string())),
    }
}
