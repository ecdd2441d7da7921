//! Rejoining after losing data: a node that ran in the cluster before and starts on an
//! empty data directory (see `rejoin_guard`) comes back as a new incarnation of itself.
//!
//! Until it is done, the node casts no vote and stands for no election in any group
//! (`Groups::rejoining`): it forgot the votes it cast, so voting could elect two
//! leaders in one term. It asks each group it belongs to, the metadata group first and
//! then every partition that places a replica on it, to take it back
//! (`ClusterControl.Rejoin`, answered by the group's leader):
//!
//! 1. the leader makes it a learner (it leaves the voters, so it counts toward no
//!    majority while it holds nothing);
//! 2. waits until it holds the leader's log up to that change (a wiped follower's log
//!    is shorter than the leader remembers; the leader starts over from its log start);
//! 3. makes it a voter again.
//!
//! A step that fails (no leader, too few voters up, a catch-up that takes too long) is
//! tried again until it succeeds; each step is a no-op once done. Only when every group
//! has taken it back does the node vote and stand for election again.
//!
//! The leader takes a voter out only while the voters that remain hold its log: with
//! one of them down as well, taking one more out would leave the group no majority.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::ChangeMembers;
use serde::{Deserialize, Serialize};

use super::groups::{METADATA_GROUP, partition_group};
use super::network::MAX_MESSAGE_BYTES;
use super::node_change::{NodeChangeError, holds_log, write_error};
use super::runtime::Cluster;
use super::types::{GroupRaft, NodeId};
use crate::proto::cluster::RaftMessage;
use crate::proto::cluster::cluster_control_client::ClusterControlClient;

/// How long a rejoining node may take to catch up with a group's log before the
/// leader answers "not yet" (the node asks again).
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one membership change may take to commit.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between attempts that did not succeed.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// A rejoining node's request to one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejoinRequest {
    /// The rejoining node.
    pub node: NodeId,
    /// The partition whose group is asked, or `None` for the metadata group.
    pub partition: Option<(String, u32)>,
}

impl RejoinRequest {
    fn group(&self) -> String {
        match &self.partition {
            None => METADATA_GROUP.to_string(),
            Some((topic, partition)) => partition_group(topic, *partition),
        }
    }
}

impl Cluster {
    /// Runs a rejoin to its end: every group this node belongs to takes it back, then
    /// it votes again. Spawned at start by a node that lost its data.
    pub(super) async fn rejoin(self: Arc<Self>) {
        let started = Instant::now();
        self.rejoin_group(RejoinRequest {
            node: self.node_id(),
            partition: None,
        })
        .await;
        self.wait_metadata_applied().await;
        for (topic, partition) in self.partitions_placed_here() {
            self.wait_replica_started(&topic, partition).await;
            if self.replica(&topic, partition).is_none() {
                continue; // deleted meanwhile
            }
            self.rejoin_group(RejoinRequest {
                node: self.node_id(),
                partition: Some((topic, partition)),
            })
            .await;
        }
        self.node().finish_rejoin();
        tracing::info!(
            seconds = started.elapsed().as_secs_f64(),
            "rejoined the cluster: every group took this node back, and it votes again"
        );
    }

    /// Waits until this node has applied the metadata log it holds, so that the
    /// partitions it lists next are all those placed on it when the metadata group
    /// took it back.
    async fn wait_metadata_applied(&self) {
        let mut metrics = self.metadata_raft().metrics();
        let applied = metrics.wait_for(|m| {
            m.last_applied.map(|l| l.index) >= m.last_log_index && m.last_log_index.is_some()
        });
        if tokio::time::timeout(Duration::from_secs(30), applied)
            .await
            .is_err()
        {
            tracing::warn!("rejoin: the metadata log was not applied within 30 s; going on");
        }
    }

    /// The partitions whose placement names this node, as the metadata stands now.
    fn partitions_placed_here(&self) -> Vec<(String, u32)> {
        let me = self.node_id();
        let view = self.metadata();
        let state = &view.borrow().0;
        state
            .topics
            .iter()
            .flat_map(|(topic, placement)| {
                placement
                    .replicas
                    .iter()
                    .enumerate()
                    .filter(move |(_, set)| set.contains(&me))
                    .map(move |(p, _)| (topic.clone(), p as u32))
            })
            .collect()
    }

    /// Waits until the broker has started this node's replica of a partition (it
    /// starts them as the metadata is applied), or the partition is gone.
    async fn wait_replica_started(&self, topic: &str, partition: u32) {
        let started = Instant::now();
        let mut warned = false;
        while self.replica(topic, partition).is_none()
            && self
                .replicas_of(topic, partition)
                .is_some_and(|r| r.contains(&self.node_id()))
        {
            if !warned && started.elapsed() >= Duration::from_secs(30) {
                tracing::warn!(
                    topic,
                    partition,
                    "rejoin: still waiting for the replica to start"
                );
                warned = true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Asks the group's leader, wherever it is, until it took this node back.
    async fn rejoin_group(&self, request: RejoinRequest) {
        let group = request.group();
        let mut attempts = 0u64;
        loop {
            if let Some((topic, partition)) = &request.partition
                && !self
                    .replicas_of(topic, *partition)
                    .is_some_and(|r| r.contains(&self.node_id()))
            {
                return; // deleted, or moved off this node, meanwhile
            }
            let leader = match &request.partition {
                None => self.metadata_leader(),
                Some((topic, partition)) => {
                    self.replica(topic, *partition).and_then(|r| r.leader())
                }
            };
            let result = match leader {
                Some(leader) if leader != self.node_id() => {
                    self.rejoin_remote(leader, &request).await
                }
                _ => Err(NodeChangeError::NotLeader),
            };
            match result {
                Ok(()) => {
                    tracing::info!(group = %group, "rejoin: the group took this node back");
                    return;
                }
                Err(error) => {
                    attempts += 1;
                    if attempts.is_multiple_of(20) {
                        tracing::warn!(group = %group, %error, "rejoin: the group has not taken this node back yet");
                    }
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
        }
    }

    async fn rejoin_remote(
        &self,
        leader: NodeId,
        request: &RejoinRequest,
    ) -> Result<(), NodeChangeError> {
        let addr = self
            .nodes()
            .get(&leader)
            .cloned()
            .or_else(|| self.bootstrap_address(leader))
            .ok_or(NodeChangeError::NotLeader)?;
        let channel = self
            .node()
            .channels()
            .get(leader, &addr)
            .map_err(NodeChangeError::Unavailable)?;
        let mut client = ClusterControlClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let body =
            serde_json::to_vec(request).map_err(|e| NodeChangeError::Invalid(e.to_string()))?;
        let message = RaftMessage {
            group: request.group(),
            body: body.into(),
        };
        let timeout = CATCH_UP_TIMEOUT + 2 * CHANGE_TIMEOUT;
        let call = self.node().channels().request(message, timeout);
        match client.rejoin(call).await {
            Ok(reply) => serde_json::from_slice(&reply.into_inner().body).map_err(|e| {
                NodeChangeError::Unavailable(format!("undecodable reply from node {leader}: {e}"))
            })?,
            Err(status) => Err(NodeChangeError::Unavailable(format!(
                "node {leader}: {}",
                status.message()
            ))),
        }
    }

    /// Takes a rejoining node back into a group this node leads: learner, caught up,
    /// voter. Answered for `ClusterControl.Rejoin`.
    pub async fn rejoin_local(&self, request: RejoinRequest) -> Result<(), NodeChangeError> {
        let raft = match &request.partition {
            None => self.metadata_raft().clone(),
            Some((topic, partition)) => self
                .replica(topic, *partition)
                .ok_or(NodeChangeError::NotLeader)?
                .raft()
                .clone(),
        };
        if raft.metrics().borrow().state != openraft::ServerState::Leader {
            return Err(NodeChangeError::NotLeader);
        }
        let node = request.node;
        let membership = raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .clone();
        if membership.get_node(&node).is_none() {
            // Not a member (the replica moved away meanwhile): nothing to take back.
            return Ok(());
        }
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        if voters.contains(&node) {
            self.check_others_hold_log(&raft, node, &voters)?;
            change(&raft, ChangeMembers::RemoveVoters(BTreeSet::from([node]))).await?;
            tracing::info!(group = %request.group(), node, "rejoin: the node is a learner until it catches up");
        }
        // The log now holds the change that made it a learner, which it can only hold
        // by receiving it: what the leader remembers of its log from before it lost
        // its data is older than that.
        let target = raft.metrics().borrow().last_log_index.unwrap_or(0);
        wait_holds(&raft, node, target).await?;
        change(&raft, ChangeMembers::AddVoterIds(BTreeSet::from([node]))).await?;
        tracing::info!(group = %request.group(), node, "rejoin: the node is a voter again");
        Ok(())
    }

    /// Refuses to take `node` out of the voters unless every other voter holds the
    /// log up to the commit point: with one of them behind or down, the voters left
    /// might not make a majority.
    fn check_others_hold_log(
        &self,
        raft: &GroupRaft,
        node: NodeId,
        voters: &BTreeSet<NodeId>,
    ) -> Result<(), NodeChangeError> {
        let metrics = raft.metrics().borrow().clone();
        let committed = metrics.last_applied.map_or(0, |l| l.index);
        let replication = metrics.replication.unwrap_or_default();
        let behind: Vec<NodeId> = voters
            .iter()
            .filter(|id| **id != node && **id != self.node_id())
            .filter(|id| {
                !replication
                    .get(id)
                    .is_some_and(|m| m.is_some_and(|l| l.index >= committed))
            })
            .copied()
            .collect();
        match behind.is_empty() {
            true => Ok(()),
            false => Err(NodeChangeError::Unavailable(format!(
                "voters {behind:?} are behind or down; taking node {node} out of the voters now could leave no majority"
            ))),
        }
    }
}

/// Applies one membership change, keeping removed voters as learners.
async fn change(
    raft: &GroupRaft,
    members: ChangeMembers<NodeId, super::types::Node>,
) -> Result<(), NodeChangeError> {
    match tokio::time::timeout(CHANGE_TIMEOUT, raft.change_membership(members, true)).await {
        Ok(result) => result.map(|_| ()).map_err(write_error),
        Err(_) => Err(NodeChangeError::Unavailable(
            "the membership change did not commit in time".into(),
        )),
    }
}

/// Waits until `node` holds the group's log up to `index` (this node leads it).
async fn wait_holds(raft: &GroupRaft, node: NodeId, index: u64) -> Result<(), NodeChangeError> {
    match holds_log(raft, node, index, CATCH_UP_TIMEOUT).await {
        true => Ok(()),
        false => Err(NodeChangeError::Unavailable(format!(
            "node {node} did not catch up within {} s; it asks again",
            CATCH_UP_TIMEOUT.as_secs()
        ))),
    }
}
