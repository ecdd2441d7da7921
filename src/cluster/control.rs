//! The receiving side of `ClusterControl`: proposals other nodes hand to this one
//! because it leads (or led, when they last looked) the group. Never handed on again:
//! a node that does not lead answers "not the leader", naming the leader it knows,
//! and the sender follows that. Node changes (`ChangeNodes`) and replica moves
//! (`MoveReplicas`, to a partition's leader) are handled the same way;
//! `Identify` names this node to a leader about to add it. A leader handing its
//! leadership over asks the new leader to stand (`StandForLeader`), and the balancer
//! asks each node to hand over what it leads (`BalanceLeaders`). Also the probe a node
//! starting on an empty data directory sends (see `rejoin_guard`), and the requests of
//! a node that lost its data to be taken back into a group (`Rejoin`, see `rejoin`).

use std::sync::{Arc, Weak};

use tonic::{Request, Response, Status};

use super::acks::Acks;
use super::handover::StandRequest;
use super::leader_balance::BalanceRequest;
use super::metadata::Command;
use super::node_change::NodeChange;
use super::rejoin::RejoinRequest;
use super::replica_move::ReplicaMove;
use super::runtime::Cluster;
use crate::proto::cluster::cluster_control_server::ClusterControl;
use crate::proto::cluster::{ProbeReply, ProbeRequest, ProposeMessage, RaftMessage, RaftReply};

/// The `ClusterControl` service of one node.
pub struct ControlService {
    cluster: Weak<Cluster>,
}

impl ControlService {
    /// The service of `cluster`.
    pub fn new(cluster: &Arc<Cluster>) -> ControlService {
        ControlService {
            cluster: Arc::downgrade(cluster),
        }
    }

    fn cluster(&self) -> Result<Arc<Cluster>, Status> {
        self.cluster
            .upgrade()
            .ok_or_else(|| Status::unavailable("this node is shutting down"))
    }
}

impl ControlService {
    /// Proposes a batch handed on by another node, with its acknowledgement level and
    /// condition.
    async fn propose_message(
        &self,
        message: ProposeMessage,
    ) -> Result<Response<RaftReply>, Status> {
        let cluster = self.cluster()?;
        let acks = match message.acks_leader {
            true => Acks::Leader,
            false => Acks::All,
        };
        let result = cluster
            .propose_local(
                &message.topic,
                message.partition,
                message.batch,
                acks,
                message.expected_next_offset,
            )
            .await;
        reply(&result)
    }
}

/// `value` (an outcome, or this node's identity) as JSON in a reply.
fn reply(value: &impl serde::Serialize) -> Result<Response<RaftReply>, Status> {
    let body = serde_json::to_vec(value).map_err(|e| Status::internal(e.to_string()))?;
    Ok(Response::new(RaftReply { body: body.into() }))
}

/// The JSON `body` of a message as a `what`.
fn decode<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, Status> {
    serde_json::from_slice(body)
        .map_err(|e| Status::invalid_argument(format!("undecodable {what}: {e}")))
}

#[tonic::async_trait]
impl ClusterControl for ControlService {
    async fn propose(
        &self,
        request: Request<ProposeMessage>,
    ) -> Result<Response<RaftReply>, Status> {
        self.propose_message(request.into_inner()).await
    }

    async fn propose_expecting(
        &self,
        request: Request<ProposeMessage>,
    ) -> Result<Response<RaftReply>, Status> {
        self.propose_message(request.into_inner()).await
    }

    async fn propose_metadata(
        &self,
        request: Request<RaftMessage>,
    ) -> Result<Response<RaftReply>, Status> {
        let cluster = self.cluster()?;
        let message = request.into_inner();
        let command: Command = decode(&message.body, "command")?;
        reply(&cluster.propose_metadata_local(command).await)
    }

    async fn probe(&self, request: Request<ProbeRequest>) -> Result<Response<ProbeReply>, Status> {
        let cluster = self.cluster()?;
        tracing::debug!(
            from = request.into_inner().node_id,
            "probed by a starting node"
        );
        Ok(Response::new(ProbeReply {
            node_id: cluster.node_id(),
            started: cluster.listeners().into_keys().collect(),
        }))
    }

    async fn change_nodes(
        &self,
        request: Request<RaftMessage>,
    ) -> Result<Response<RaftReply>, Status> {
        let cluster = self.cluster()?;
        let change: NodeChange = decode(&request.into_inner().body, "node change")?;
        reply(&cluster.change_nodes_local(change).await)
    }

    async fn move_replicas(
        &self,
        request: Request<RaftMessage>,
    ) -> Result<Response<RaftReply>, Status> {
        let cluster = self.cluster()?;
        let change: ReplicaMove = decode(&request.into_inner().body, "replica move")?;
        reply(&cluster.move_replicas_local(change).await)
    }

    async fn rejoin(&self, request: Request<RaftMessage>) -> Result<Response<RaftReply>, Status> {
        let cluster = self.cluster()?;
        let rejoin: RejoinRequest = decode(&request.into_inner().body, "rejoin request")?;
        reply(&cluster.rejoin_local(rejoin).await)
    }

    async fn identify(
        &self,
        _request: Request<RaftMessage>,
    ) -> Result<Response<RaftReply>, Status> {
        reply(&self.cluster()?.identity())
    }

    async fn stand_for_leader(
        &self,
        request: Request<RaftMessage>,
    ) -> Result<Response<RaftReply>, Status> {
        let cluster = self.cluster()?;
        let stand: StandRequest = decode(&request.into_inner().body, "stand request")?;
        reply(&cluster.stand_local(&stand).await)
    }

    async fn balance_leaders(
        &self,
        request: Request<RaftMessage>,
    ) -> Result<Response<RaftReply>, Status> {
        let cluster = self.cluster()?;
        let balance: BalanceRequest = decode(&request.into_inner().body, "balance request")?;
        reply(&cluster.balance_led(balance).await)
    }
}
