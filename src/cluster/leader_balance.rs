//! Leadership balancing: each partition's *preferred leader* is the first replica of
//! its placement (placement spreads first replicas over the nodes, so preferred
//! leaders are balanced), and after failovers the balancer hands leadership back to it
//! (see [`super::handover`] for how one handover works).
//!
//! Only a partition's leader knows whether its preferred replica holds its log, so the
//! balancer asks every node in turn (`ClusterControl.BalanceLeaders`, or directly for
//! this node) to hand over the partitions it leads whose preferred leader is another
//! node that is a voter of the group, nearly caught up, and answers. `eventlog cluster
//! balance-leaders` runs it through any node; the metadata group's leader also runs it
//! every `--leader-balance-interval`, handing over at most [`AUTO_LIMIT`] partitions
//! per run, so a returning node gets its leaderships back a few at a time.

use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::handover::HandoverError;
use super::peer_call::json_answer;
use super::runtime::Cluster;
use super::types::NodeId;

/// The most handovers one automatic run starts, over all nodes.
pub const AUTO_LIMIT: usize = 3;
/// Handovers a node runs at once (each keeps its partition's writes waiting for about
/// an election timeout, independently of the others).
const CONCURRENT_HANDOVERS: usize = 8;
/// How long a node may take to balance what it leads when asked by another.
const BALANCE_TIMEOUT: Duration = Duration::from_secs(60);

/// What became of one partition not led by its preferred leader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderMove {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// The node that led it.
    pub from: NodeId,
    /// Its preferred leader.
    pub to: NodeId,
    /// What happened.
    pub outcome: MoveOutcome,
}

/// The outcome of one [`LeaderMove`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MoveOutcome {
    /// The preferred leader was elected.
    Moved,
    /// Not tried (the preferred leader is behind or does not answer, or this run's
    /// limit was reached); nothing changed.
    Skipped(String),
    /// Tried, but the preferred leader was not elected; writes went on.
    Failed(String),
}

/// What a balance did, over every node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BalanceReport {
    /// Every partition that was not led by its preferred leader, and what became of it.
    pub moves: Vec<LeaderMove>,
    /// Nodes that could not be asked, and why (the partitions they lead stay as they
    /// are).
    pub unreachable: Vec<(NodeId, String)>,
}

/// What `ClusterControl.BalanceLeaders` asks of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceRequest {
    /// The most handovers to start; `None`: every partition that is ready.
    pub limit: Option<usize>,
}

impl Cluster {
    /// Asks every node, in id order, to hand the partitions it leads to their
    /// preferred leaders; at most `limit` handovers in all (`None`: no limit).
    pub async fn balance_leaders(&self, limit: Option<usize>) -> BalanceReport {
        let mut report = BalanceReport::default();
        let mut remaining = limit;
        for node in self.voters() {
            let request = BalanceRequest { limit: remaining };
            let moves = match node == self.node_id() {
                true => Ok(self.balance_led(request).await),
                false => self.balance_remote(node, request).await,
            };
            match moves {
                Ok(moves) => {
                    let tried = moves
                        .iter()
                        .filter(|m| !matches!(m.outcome, MoveOutcome::Skipped(_)))
                        .count();
                    remaining = remaining.map(|r| r.saturating_sub(tried));
                    report.moves.extend(moves);
                }
                Err(reason) => report.unreachable.push((node, reason)),
            }
        }
        report
    }

    async fn balance_remote(
        &self,
        node: NodeId,
        request: BalanceRequest,
    ) -> Result<Vec<LeaderMove>, String> {
        let group = super::groups::METADATA_GROUP.to_string();
        let (mut client, call) = self.json_call(node, group, &request, BALANCE_TIMEOUT)?;
        json_answer(node, client.balance_leaders(call).await)
    }

    /// Hands the partitions this node leads to their preferred leaders, those that are
    /// ready first and at most `request.limit` of them; reports every partition it
    /// leads that another node prefers.
    pub async fn balance_led(&self, request: BalanceRequest) -> Vec<LeaderMove> {
        let mut report = Vec::new();
        let mut ready = Vec::new();
        for (topic, partition, to) in self.led_elsewhere_preferred() {
            let candidate = LeaderMove {
                topic,
                partition,
                from: self.node_id(),
                to,
                outcome: MoveOutcome::Moved,
            };
            let check = self.check_handover(&candidate.topic, partition, to).await;
            match check.map_err(|e| e.to_string()) {
                Ok(()) if request.limit.is_none_or(|l| ready.len() < l) => ready.push(candidate),
                Ok(()) => report.push(LeaderMove {
                    outcome: MoveOutcome::Skipped("left for a later run".into()),
                    ..candidate
                }),
                Err(reason) => report.push(LeaderMove {
                    outcome: MoveOutcome::Skipped(reason),
                    ..candidate
                }),
            }
        }
        let handovers = futures_util::stream::iter(ready)
            .map(|candidate| async move {
                let outcome = match self
                    .hand_over(&candidate.topic, candidate.partition, candidate.to)
                    .await
                {
                    Ok(()) => MoveOutcome::Moved,
                    Err(HandoverError::Failed(reason)) => MoveOutcome::Failed(reason),
                    Err(other) => MoveOutcome::Skipped(other.to_string()),
                };
                LeaderMove {
                    outcome,
                    ..candidate
                }
            })
            .buffer_unordered(CONCURRENT_HANDOVERS)
            .collect::<Vec<_>>()
            .await;
        report.extend(handovers);
        report.sort_by(|a, b| a.topic.cmp(&b.topic).then(a.partition.cmp(&b.partition)));
        report
    }

    /// The partitions this node leads whose preferred leader is another node, with
    /// that node; partitions whose replicas are being moved are left alone.
    fn led_elsewhere_preferred(&self) -> Vec<(String, u32, NodeId)> {
        let state = self.metadata().borrow().0.clone();
        let mut out = Vec::new();
        for (topic, placement) in &state.topics {
            for (number, replicas) in placement.replicas.iter().enumerate() {
                let partition = number as u32;
                let moving = placement.moves.get(&partition).is_some_and(|m| !m.done);
                let Some(&preferred) = replicas.first() else {
                    continue;
                };
                if moving || preferred == self.node_id() {
                    continue;
                }
                if self
                    .replica(topic, partition)
                    .is_some_and(|r| r.is_leader())
                {
                    out.push((topic.clone(), partition, preferred));
                }
            }
        }
        out
    }

    /// Runs [`Cluster::balance_leaders`] with [`AUTO_LIMIT`] every `every` while this
    /// node leads the metadata group, until the cluster is dropped or shut down.
    pub(super) fn start_balancer(
        self: &std::sync::Arc<Self>,
        every: Duration,
        stop: tokio_util::sync::CancellationToken,
    ) {
        let cluster = std::sync::Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    () = stop.cancelled() => return,
                }
                let Some(cluster) = cluster.upgrade() else {
                    return;
                };
                if cluster.metadata_leader() != Some(cluster.node_id()) {
                    continue;
                }
                let report = cluster.balance_leaders(Some(AUTO_LIMIT)).await;
                log_report(&report);
            }
        });
    }
}

/// Logs what an automatic balance did, when it did anything.
fn log_report(report: &BalanceReport) {
    for m in &report.moves {
        match &m.outcome {
            MoveOutcome::Moved => {
                tracing::info!(topic = %m.topic, partition = m.partition, from = m.from, to = m.to, "leadership balanced")
            }
            MoveOutcome::Failed(reason) => {
                tracing::warn!(topic = %m.topic, partition = m.partition, from = m.from, to = m.to, %reason, "leadership handover failed; retried in the next run")
            }
            MoveOutcome::Skipped(reason) => {
                tracing::debug!(topic = %m.topic, partition = m.partition, to = m.to, %reason, "leadership handover skipped")
            }
        }
    }
    for (node, reason) in &report.unreachable {
        tracing::debug!(node, %reason, "leadership balance could not ask a node");
    }
}
