//! A cluster node: its id, its Raft timing, the channels to its peers, and the
//! replication groups it runs, each started over a partition log.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use openraft::error::{ClientWriteError, InitializeError, RaftError};
use tokio::sync::watch;

use super::groups::Groups;
use super::log_store::LogStore;
use super::network::{Channels, GroupNetwork};
use super::replica_log::ReplicaLog;
use super::state_machine::PartitionMachine;
use super::transport::TransportService;
use super::types::{Applied, GroupRaft, Node, NodeId, Proposal};
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
    /// Elections after 1 to 2 s of silence and heartbeats every 250 ms: a dead
    /// leader is replaced within about 2 s on a local network, and an idle node with
    /// hundreds of groups spends little on heartbeats.
    fn default() -> Self {
        RaftTiming {
            heartbeat_ms: 250,
            election_min_ms: 1000,
            election_max_ms: 2000,
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
    /// A node with id `id` and the given timing.
    pub fn new(id: NodeId, timing: RaftTiming) -> Result<ClusterNode, ReplicaError> {
        let config = openraft::Config {
            cluster_name: "eventlog".into(),
            heartbeat_interval: timing.heartbeat_ms,
            election_timeout_min: timing.election_min_ms,
            election_timeout_max: timing.election_max_ms,
            // A partition's snapshot is its position; the log is never purged to one.
            snapshot_policy: openraft::SnapshotPolicy::Never,
            ..openraft::Config::default()
        };
        let config = config
            .validate()
            .map_err(|e| ReplicaError::Setup(format!("invalid Raft timing: {e}")))?;
        Ok(ClusterNode {
            id,
            groups: Arc::new(Groups::default()),
            channels: Arc::new(Channels::default()),
            config: Arc::new(config),
        })
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
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
        let replica = tokio::task::spawn_blocking(move || ReplicaLog::open(log))
            .await
            .map_err(|e| ReplicaError::Setup(e.to_string()))?
            .map_err(|e| ReplicaError::Setup(e.to_string()))?;
        let replica = Arc::new(replica);
        let watermark = commit.subscribe();
        let machine = PartitionMachine::new(Arc::clone(&replica), commit);
        let network = GroupNetwork::new(Arc::clone(&self.channels), name.clone());
        let raft = GroupRaft::new(
            self.id,
            Arc::clone(&self.config),
            network,
            LogStore::new(Arc::clone(&replica)),
            machine,
        )
        .await
        .map_err(|e| ReplicaError::Setup(format!("group {name}: {e}")))?;
        if let Some(old) = self.groups.insert(name.clone(), raft.clone()) {
            let _ = old.shutdown().await;
        }
        Ok(PartitionReplica {
            name,
            raft,
            watermark,
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
    watermark: watch::Receiver<u64>,
}

impl PartitionReplica {
    /// The group's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The running Raft group.
    pub fn raft(&self) -> &GroupRaft {
        &self.raft
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

    /// Replicates one encoded version 2 batch and returns, once a majority of the
    /// group holds it durably and it is committed, the offsets it landed at.
    pub async fn propose(&self, batch: Bytes) -> Result<Applied, ReplicaError> {
        match self.raft.client_write(Proposal(batch)).await {
            Ok(response) => response.data.ok_or_else(|| {
                ReplicaError::Stopped("a committed batch reported no offsets".into())
            }),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(ReplicaError::NotLeader {
                    leader: f.leader_id.zip(f.leader_node.map(|n| n.addr)),
                })
            }
            Err(e) => Err(ReplicaError::Stopped(e.to_string())),
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
}
