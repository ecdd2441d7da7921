//! Moving a partition's replicas to other nodes, without losing a record: the new
//! placement is recorded in the metadata, the partition group's leader changes the
//! group's voters through openraft, and the move is then marked done.
//!
//! 1. `ReassignPartition` records the new replicas (applied only from the replicas the
//!    proposer saw). Every node reconciles: a node gaining a replica starts it without
//!    initialising the group (it waits for the leader); a node losing one stops serving
//!    reads of it but keeps running it, as a voter, until the move is done.
//! 2. The group's leader (wherever it is; this node hands the move to it over
//!    `ClusterControl.MoveReplicas`) adds the new replicas as learners, waits until
//!    they hold its log, then makes the new replicas the voters (openraft's joint
//!    consensus: every entry committed meanwhile is on a majority of both sets).
//! 3. `FinishReassignment` marks the move done; nodes that lost a replica stop it.
//!
//! A move interrupted by a failure (a leader change, a timeout) is finished by running
//! it again: each step is a no-op once done.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use openraft::ChangeMembers;
use serde::{Deserialize, Serialize};

use super::metadata::{Command, CommandResult};
use super::node_change::{NodeChangeError, holds_log, write_error};
use super::propose::ProposeFailure;
use super::runtime::Cluster;
use super::types::{Node, NodeId};
use crate::proto::cluster::RaftMessage;

/// How long the new replicas may take to catch up with the leader's log.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a move looks for the partition's leader.
const LEADER_TIMEOUT: Duration = Duration::from_secs(15);

/// A partition's new replicas, as handed to its group's leader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaMove {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// The new replicas.
    pub replicas: Vec<NodeId>,
}

impl Cluster {
    /// Moves a partition's replicas to `replicas` (the first is the preferred leader)
    /// and returns once the group's voters are the new replicas.
    pub async fn reassign(
        &self,
        topic: &str,
        partition: u32,
        replicas: Vec<NodeId>,
    ) -> Result<(), NodeChangeError> {
        let from = self.check_move(topic, partition, &replicas)?;
        let command = Command::ReassignPartition {
            name: topic.to_string(),
            partition,
            from: from.clone(),
            replicas: replicas.clone(),
        };
        self.propose_move(command).await?;
        self.wait_placed(topic, partition, &replicas).await?;
        let candidates: Vec<NodeId> = from
            .iter()
            .chain(&replicas)
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let change = ReplicaMove {
            topic: topic.to_string(),
            partition,
            replicas: replicas.clone(),
        };
        self.hand_to_leader(&change, &candidates).await?;
        let finish = Command::FinishReassignment {
            name: topic.to_string(),
            partition,
            replicas,
        };
        self.propose_move(finish).await
    }

    /// The partition's current replicas, once the move to `replicas` is possible.
    fn check_move(
        &self,
        topic: &str,
        partition: u32,
        replicas: &[NodeId],
    ) -> Result<Vec<NodeId>, NodeChangeError> {
        let Some(count) = self
            .metadata()
            .borrow()
            .0
            .topics
            .get(topic)
            .map(|t| t.replicas.len())
        else {
            return Err(NodeChangeError::NotFound(format!(
                "topic {topic:?} does not exist"
            )));
        };
        let from = self.replicas_of(topic, partition).ok_or_else(|| {
            NodeChangeError::NotFound(format!(
                "topic {topic:?} has no partition {partition} (it has {count})"
            ))
        })?;
        if replicas.is_empty() {
            return Err(NodeChangeError::Invalid("no replicas given".into()));
        }
        let distinct: BTreeSet<NodeId> = replicas.iter().copied().collect();
        if distinct.len() != replicas.len() {
            return Err(NodeChangeError::Invalid(
                "a node is listed twice among the replicas".into(),
            ));
        }
        let voters = self.voters();
        if let Some(unknown) = replicas.iter().find(|id| !voters.contains(id)) {
            return Err(NodeChangeError::Invalid(format!(
                "node {unknown} is not in the cluster"
            )));
        }
        Ok(from)
    }

    async fn propose_move(&self, command: Command) -> Result<(), NodeChangeError> {
        let result = self.propose_metadata(command).await.map_err(|f| match f {
            ProposeFailure::Invalid(reason) => NodeChangeError::Invalid(reason),
            other => NodeChangeError::Unavailable(other.to_string()),
        })?;
        match result {
            CommandResult::Reassigned => Ok(()),
            CommandResult::NotFound => Err(NodeChangeError::NotFound(
                "the topic or partition was deleted meanwhile".into(),
            )),
            _ => Err(NodeChangeError::Refused(
                "the partition's replicas changed meanwhile; look again and retry".into(),
            )),
        }
    }

    /// Waits until the metadata here places the partition on `replicas`.
    async fn wait_placed(
        &self,
        topic: &str,
        partition: u32,
        replicas: &[NodeId],
    ) -> Result<(), NodeChangeError> {
        let deadline = Instant::now() + LEADER_TIMEOUT;
        while self.replicas_of(topic, partition).as_deref() != Some(replicas) {
            if Instant::now() >= deadline {
                return Err(NodeChangeError::Unavailable(
                    "the new placement was accepted but has not reached this node yet".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Hands `change` to the partition group's leader, trying `candidates` in turn
    /// until one leads.
    async fn hand_to_leader(
        &self,
        change: &ReplicaMove,
        candidates: &[NodeId],
    ) -> Result<(), NodeChangeError> {
        let deadline = Instant::now() + LEADER_TIMEOUT;
        let mut attempt = 0usize;
        loop {
            let hinted = self
                .replica(&change.topic, change.partition)
                .and_then(|r| r.leader());
            let target = match hinted {
                Some(leader) if attempt.is_multiple_of(2) => leader,
                _ => candidates[attempt % candidates.len()],
            };
            attempt += 1;
            let result = match target == self.node_id() {
                true => self.move_replicas_local(change.clone()).await,
                false => self.move_replicas_remote(target, change).await,
            };
            match result {
                Err(NodeChangeError::NotLeader) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(NodeChangeError::NotLeader) => {
                    return Err(NodeChangeError::Unavailable(format!(
                        "partition {}/{} has no reachable leader; run the reassignment again to finish it",
                        change.topic, change.partition
                    )));
                }
                other => return other,
            }
        }
    }

    async fn move_replicas_remote(
        &self,
        node: NodeId,
        change: &ReplicaMove,
    ) -> Result<(), NodeChangeError> {
        let mut client = self
            .control_client(node)
            .map_err(|_| NodeChangeError::NotLeader)?;
        let body =
            serde_json::to_vec(change).map_err(|e| NodeChangeError::Invalid(e.to_string()))?;
        let message = RaftMessage {
            group: super::groups::partition_group(&change.topic, change.partition),
            body: body.into(),
        };
        let timeout = CATCH_UP_TIMEOUT + LEADER_TIMEOUT;
        let request = self.node().channels().request(message, timeout);
        match client.move_replicas(request).await {
            Ok(reply) => serde_json::from_slice(&reply.into_inner().body).map_err(|e| {
                NodeChangeError::Unavailable(format!("undecodable reply from node {node}: {e}"))
            })?,
            Err(status) => {
                tracing::debug!(node, %status, "handing a replica move on failed");
                Err(NodeChangeError::NotLeader)
            }
        }
    }

    /// Makes the new replicas the voters of the partition's group; this node must lead
    /// it. The new replicas join as learners first and become voters only once they
    /// hold the leader's log.
    pub async fn move_replicas_local(&self, change: ReplicaMove) -> Result<(), NodeChangeError> {
        let replica = self
            .replica(&change.topic, change.partition)
            .ok_or(NodeChangeError::NotLeader)?;
        if !replica.is_leader() {
            return Err(NodeChangeError::NotLeader);
        }
        let raft = replica.raft().clone();
        let wanted: BTreeSet<NodeId> = change.replicas.iter().copied().collect();
        let metrics = raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        if voters == wanted && membership.get_joint_config().len() == 1 {
            return Ok(());
        }
        let nodes = self.nodes();
        for id in &wanted {
            if membership.get_node(id).is_some() {
                continue;
            }
            let address = nodes.get(id).cloned().ok_or_else(|| {
                NodeChangeError::Invalid(format!("node {id} is not in the cluster"))
            })?;
            raft.add_learner(*id, Node::new(address), false)
                .await
                .map_err(write_error)?;
        }
        let target = raft.metrics().borrow().last_log_index.unwrap_or(0);
        for id in &wanted {
            self.wait_replicated(&raft, *id, target, &change).await?;
        }
        raft.change_membership(ChangeMembers::ReplaceAllVoters(wanted), false)
            .await
            .map_err(write_error)?;
        tracing::info!(topic = %change.topic, partition = change.partition, replicas = ?change.replicas, "replicas moved");
        Ok(())
    }

    /// Waits until `id` holds the group's log up to `index` (this node leads it).
    async fn wait_replicated(
        &self,
        raft: &super::types::GroupRaft,
        id: NodeId,
        index: u64,
        change: &ReplicaMove,
    ) -> Result<(), NodeChangeError> {
        if id == self.node_id() {
            return Ok(());
        }
        match holds_log(raft, id, index, CATCH_UP_TIMEOUT).await {
            true => Ok(()),
            false => Err(NodeChangeError::Unavailable(format!(
                "node {id} did not catch up with partition {}/{} within {} s; run the reassignment again to finish it",
                change.topic,
                change.partition,
                CATCH_UP_TIMEOUT.as_secs()
            ))),
        }
    }
}
