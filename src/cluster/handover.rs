//! Handing a partition's leadership to another of its replicas, through a normal Raft
//! election: openraft 0.9 has no leader transfer, and no leader change here bypasses
//! the election (the new leader is elected by a majority holding its log).
//!
//! What stands in the way of an election while a leader is alive is the *leader
//! lease*: a follower that heard from its leader within `election_timeout_max` refuses
//! every vote request (openraft's `Engine::handle_vote_req`). So the leader A, asked to
//! hand over to B:
//!
//! 1. checks that B is a voter of the group, holds nearly all of A's log, and answers
//!    (`ClusterControl.StandForLeader` without an index);
//! 2. closes the partition's write gate (new batches are answered "handing over",
//!    which the forwarding nodes retry as during an election), waits for the batches
//!    inside to commit, and until B holds A's whole log and A has applied it: B's log
//!    must not be behind any voter's, or the voters refuse it;
//! 3. stops sending heartbeats (`runtime_config().heartbeat(false)`); with no writes,
//!    nothing else reaches the followers, so their leases run out after
//!    `election_timeout_max`;
//! 4. then asks B to stand (`StandForLeader` with A's last index; B checks it holds
//!    that much and calls `trigger().elect()`). B asks for votes with a higher term;
//!    the followers' leases are out, its log is as long as theirs, so they grant it.
//!    (A grants it too, unless A was elected less than a lease ago: openraft does not
//!    renew a leader's own lease.) B is elected and its first message makes A follow;
//! 5. whatever happened, heartbeats and writes resume (guards restore both, even if
//!    the call is dropped half way).
//!
//! Followers start an election of their own only after `election_timeout_max` plus
//! their own random timeout of at least `election_timeout_min` without a message, so
//! B stands a quarter of `election_timeout_min` after the lease ran out, and A resumes
//! heartbeats half an `election_timeout_min` after that if B has not taken over: a
//! failed handover leaves A leading (or, if B's vote reached A first, a normal
//! election follows), and is tried again by the next balance.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::node::PartitionReplica;
use super::peer_call::json_answer;
use super::runtime::Cluster;
use super::types::{GroupRaft, NodeId, RaftMetrics};

/// The most entries the new leader may lack when a handover starts: it catches up on
/// them while writes wait, so only a replica that is nearly there is asked.
pub const MAX_LAG_ENTRIES: u64 = 100;
/// How long the batches in flight may take to commit, and the new leader to catch up,
/// once writes wait.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a node asked to stand may take to answer.
const STAND_TIMEOUT: Duration = Duration::from_secs(5);

/// What the node asked to take over is told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandRequest {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// The leader's last log index: stand for election if the asked node's log reaches
    /// it. `None` only asks whether it could (it runs the replica as a voter).
    pub last_index: Option<u64>,
}

/// Why a handover did not happen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum HandoverError {
    /// This node does not lead the partition (any more).
    #[error("this node does not lead the partition")]
    NotLeader,
    /// The new leader is not ready (not a voter, behind, not answering), or another
    /// handover of the partition is under way; nothing was changed.
    #[error("{0}")]
    NotReady(String),
    /// The handover was tried but the new leader was not elected in time; writes
    /// and heartbeats resumed.
    #[error("{0}")]
    Failed(String),
}

impl Cluster {
    /// Whether this node may hand the leadership of a partition to node `to` now: it
    /// leads the partition, and `to` is a voter of a settled membership, nearly caught
    /// up, and answers. Changes nothing.
    pub async fn check_handover(
        &self,
        topic: &str,
        partition: u32,
        to: NodeId,
    ) -> Result<(), HandoverError> {
        let replica = self.led_replica(topic, partition)?;
        ready_to_lead(&replica.raft().metrics().borrow(), to)?;
        let check = StandRequest {
            topic: topic.to_string(),
            partition,
            last_index: None,
        };
        self.ask_to_stand(to, &check)
            .await
            .map_err(HandoverError::NotReady)
    }

    /// Hands the leadership of a partition this node leads to node `to`, once
    /// [`Cluster::check_handover`] found it ready (see the module's description);
    /// returns once `to` leads it.
    pub async fn hand_over(
        &self,
        topic: &str,
        partition: u32,
        to: NodeId,
    ) -> Result<(), HandoverError> {
        let replica = self.led_replica(topic, partition)?;
        let raft = replica.raft().clone();
        let _closed = replica.gate().close(to).ok_or_else(|| {
            HandoverError::NotReady("another handover of the partition is under way".into())
        })?;
        let last = self.settle(replica.gate(), &raft, to).await?;
        let quiet = Quiet::new(&raft);
        let timing = self.timing();
        let lease = Duration::from_millis(timing.election_max_ms);
        let margin = Duration::from_millis(timing.election_min_ms / 4);
        tokio::time::sleep(lease + margin).await;
        let metrics = raft.metrics().borrow().clone();
        if metrics.state != openraft::ServerState::Leader || metrics.last_log_index != Some(last) {
            return Err(HandoverError::Failed(
                "the partition's leadership changed while it was being handed over".into(),
            ));
        }
        let stand = StandRequest {
            topic: topic.to_string(),
            partition,
            last_index: Some(last),
        };
        self.ask_to_stand(to, &stand)
            .await
            .map_err(HandoverError::Failed)?;
        let mut watch = raft.metrics();
        let taken = watch.wait_for(|m| m.current_leader == Some(to));
        let window = Duration::from_millis(timing.election_min_ms / 2);
        if matches!(tokio::time::timeout(window, taken).await, Ok(Ok(_))) {
            tracing::info!(topic, partition, to, "leadership handed over");
            return Ok(());
        }
        drop(quiet);
        if raft.metrics().borrow().state == openraft::ServerState::Leader {
            let _ = raft.trigger().heartbeat().await;
        }
        Err(HandoverError::Failed(format!(
            "node {to} was not elected in time; the partition's leadership stays where an election puts it"
        )))
    }

    /// This node's replica of a partition, if it leads the partition's group.
    fn led_replica(&self, topic: &str, partition: u32) -> Result<PartitionReplica, HandoverError> {
        self.replica(topic, partition)
            .filter(|r| r.is_leader())
            .ok_or(HandoverError::NotLeader)
    }

    /// Waits, with writes stopped, until the batches inside the gate are committed, the
    /// whole log is applied here and node `to` holds all of it; returns the last index.
    async fn settle(
        &self,
        gate: &super::write_gate::WriteGate,
        raft: &GroupRaft,
        to: NodeId,
    ) -> Result<u64, HandoverError> {
        let late = |what: &str| {
            HandoverError::NotReady(format!(
                "{what} within {} s; writes resumed",
                SETTLE_TIMEOUT.as_secs()
            ))
        };
        tokio::time::timeout(SETTLE_TIMEOUT, gate.drained())
            .await
            .map_err(|_| late("the batches in flight did not commit"))?;
        let mut watch = raft.metrics();
        let settled = watch.wait_for(|m| {
            m.state != openraft::ServerState::Leader
                || m.last_log_index.is_some_and(|last| {
                    m.last_applied.is_some_and(|a| a.index == last) && matched(m, to) == Some(last)
                })
        });
        let metrics = tokio::time::timeout(SETTLE_TIMEOUT, settled)
            .await
            .map_err(|_| late(&format!("node {to} did not catch up")))?
            .map_err(|_| HandoverError::NotLeader)?
            .clone();
        match (metrics.state, metrics.last_log_index) {
            (openraft::ServerState::Leader, Some(last)) => Ok(last),
            _ => Err(HandoverError::NotLeader),
        }
    }

    async fn ask_to_stand(&self, to: NodeId, request: &StandRequest) -> Result<(), String> {
        if to == self.node_id() {
            return self.stand_local(request).await;
        }
        let group = super::groups::partition_group(&request.topic, request.partition);
        let (mut client, call) = self.json_call(to, group, request, STAND_TIMEOUT)?;
        json_answer::<Result<(), String>>(to, client.stand_for_leader(call).await)?
    }

    /// Stands for election in a partition's group when asked by its leader (see
    /// [`StandRequest`]).
    pub async fn stand_local(&self, request: &StandRequest) -> Result<(), String> {
        let (topic, partition) = (&request.topic, request.partition);
        let me = self.node_id();
        if self.node().rejoining() {
            // It may have voted in the coming terms before it lost its data
            // (`super::rejoin`); it stands for nothing until its groups took it back.
            return Err(format!(
                "node {me} is rejoining after losing its data and stands for no election yet"
            ));
        }
        let replica = self
            .replica(topic, partition)
            .ok_or_else(|| format!("node {me} runs no replica of {topic}/{partition}"))?;
        let metrics = replica.raft().metrics().borrow().clone();
        if !metrics
            .membership_config
            .membership()
            .voter_ids()
            .any(|v| v == me)
        {
            return Err(format!("node {me} is not a voter of {topic}/{partition}"));
        }
        let Some(index) = request.last_index else {
            return Ok(());
        };
        if metrics.last_log_index < Some(index) {
            return Err(format!(
                "node {me} holds {topic}/{partition} only up to index {:?}, not {index}",
                metrics.last_log_index
            ));
        }
        replica
            .raft()
            .trigger()
            .elect()
            .await
            .map_err(|e| format!("node {me} could not stand for election: {e}"))
    }
}

/// Whether `to` may take over the group `metrics` describes (as its leader sees it):
/// a voter of a settled membership, nearly caught up.
fn ready_to_lead(metrics: &RaftMetrics, to: NodeId) -> Result<(), HandoverError> {
    let membership = metrics.membership_config.membership();
    if membership.get_joint_config().len() > 1 || !membership.voter_ids().any(|v| v == to) {
        return Err(HandoverError::NotReady(format!(
            "node {to} is not a voter of the partition's group (a replica move is under way?)"
        )));
    }
    let last = metrics.last_log_index.unwrap_or(0);
    match matched(metrics, to) {
        Some(held) if last.saturating_sub(held) <= MAX_LAG_ENTRIES => Ok(()),
        Some(held) => Err(HandoverError::NotReady(format!(
            "node {to} is {} entries behind",
            last - held
        ))),
        None => Err(HandoverError::NotReady(format!(
            "node {to} has not confirmed any of the log yet"
        ))),
    }
}

/// The last index node `id` is known to hold, as the leader's replication reports it.
fn matched(metrics: &RaftMetrics, id: NodeId) -> Option<u64> {
    let held = metrics.replication.as_ref()?.get(&id)?;
    held.as_ref().map(|l| l.index)
}

/// Heartbeats stopped for a handover; sent again when dropped.
struct Quiet {
    raft: GroupRaft,
}

impl Quiet {
    fn new(raft: &GroupRaft) -> Quiet {
        raft.runtime_config().heartbeat(false);
        Quiet { raft: raft.clone() }
    }
}

impl Drop for Quiet {
    fn drop(&mut self) {
        self.raft.runtime_config().heartbeat(true);
    }
}
