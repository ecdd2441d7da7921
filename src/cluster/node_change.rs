//! Adding nodes to the cluster and removing them: changes to the metadata group's
//! membership, made through openraft by the group's leader (any other node hands the
//! change to it over `ClusterControl.ChangeNodes`).
//!
//! - **Adding**: the leader first asks the node at the given address who it is
//!   (`ClusterControl.Identify`), so a wrong address or id is refused before anything
//!   changes. It then adds the node as a learner, waits (bounded) until the node holds
//!   the log up to that membership entry, and only then makes it a voter: a voter that
//!   cannot yet vote for anything recent would only weaken the majority. A node that
//!   does not catch up in time is removed again.
//! - **Removing** is refused while a partition still places a replica on the node (its
//!   replicas must move first) and for the last node; otherwise the node leaves the
//!   voters and the group in one membership change.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use openraft::ChangeMembers;
use openraft::error::{ClientWriteError, RaftError};
use serde::{Deserialize, Serialize};

use super::network::MAX_MESSAGE_BYTES;
use super::runtime::{Cluster, PROPOSE_TIMEOUT};
use super::types::{Node, NodeId};
use crate::proto::cluster::RaftMessage;
use crate::proto::cluster::cluster_control_client::ClusterControlClient;

/// How long a new node may take to catch up with the metadata log before the leader
/// gives up adding it.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(30);

/// A change to the cluster's nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeChange {
    /// Adds the node `id`, reached at `address`.
    Add {
        /// Its id.
        id: NodeId,
        /// HOST:PORT it is reached at.
        address: String,
    },
    /// Removes the node `id`.
    Remove {
        /// Its id.
        id: NodeId,
    },
}

/// Why a change to the cluster's nodes was refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum NodeChangeError {
    /// The request is malformed (a bad id or address).
    #[error("{0}")]
    Invalid(String),
    /// The node is in the cluster already.
    #[error("{0}")]
    AlreadyExists(String),
    /// The node is not in the cluster.
    #[error("{0}")]
    NotFound(String),
    /// The change is refused as things stand (replicas still on the node, the last
    /// node, a server that is not in a cluster).
    #[error("{0}")]
    Refused(String),
    /// The node to add could not be reached or did not catch up; or no metadata
    /// leader could be reached. Retrying later may succeed.
    #[error("{0}")]
    Unavailable(String),
    /// The node asked does not lead the group (the metadata group, or the
    /// partition's group for a move).
    #[error("this node does not lead the group")]
    NotLeader,
}

/// What `Identify` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The answering node's id.
    pub node_id: NodeId,
}

impl Cluster {
    /// Applies `change` through the metadata group's leader, wherever it is, and
    /// returns the cluster's nodes afterwards.
    pub async fn change_nodes(
        &self,
        change: NodeChange,
    ) -> Result<BTreeMap<NodeId, String>, NodeChangeError> {
        check(&change)?;
        // Adding waits for the new node to catch up, so the call may outlast a proposal.
        let deadline = Instant::now() + PROPOSE_TIMEOUT;
        loop {
            let result = match self.metadata_leader() {
                Some(leader) if leader == self.node_id() => {
                    self.change_nodes_local(change.clone()).await
                }
                Some(leader) => self.change_nodes_remote(leader, &change).await,
                None => Err(NodeChangeError::NotLeader),
            };
            match result {
                Err(NodeChangeError::NotLeader) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(NodeChangeError::NotLeader) => {
                    return Err(NodeChangeError::Unavailable(
                        "the metadata group has no leader (is a majority of nodes up?)".into(),
                    ));
                }
                other => return other,
            }
        }
    }

    async fn change_nodes_remote(
        &self,
        leader: NodeId,
        change: &NodeChange,
    ) -> Result<BTreeMap<NodeId, String>, NodeChangeError> {
        let mut client = self
            .control_client(leader)
            .map_err(|_| NodeChangeError::NotLeader)?;
        let body =
            serde_json::to_vec(change).map_err(|e| NodeChangeError::Invalid(e.to_string()))?;
        let message = RaftMessage {
            group: super::groups::METADATA_GROUP.into(),
            body: body.into(),
        };
        let timeout = CATCH_UP_TIMEOUT + PROPOSE_TIMEOUT;
        let request = self.node().channels().request(message, timeout);
        match client.change_nodes(request).await {
            Ok(reply) => serde_json::from_slice(&reply.into_inner().body).map_err(|e| {
                NodeChangeError::Unavailable(format!("undecodable reply from node {leader}: {e}"))
            })?,
            Err(status) => {
                tracing::debug!(leader, %status, "forwarding a node change failed");
                Err(NodeChangeError::NotLeader)
            }
        }
    }

    /// Applies `change` here; this node must lead the metadata group.
    pub async fn change_nodes_local(
        &self,
        change: NodeChange,
    ) -> Result<BTreeMap<NodeId, String>, NodeChangeError> {
        check(&change)?;
        if self.metadata_leader() != Some(self.node_id()) {
            return Err(NodeChangeError::NotLeader);
        }
        match change {
            NodeChange::Add { id, address } => self.add_node(id, address).await?,
            NodeChange::Remove { id } => self.remove_node(id).await?,
        }
        Ok(self.nodes())
    }

    async fn add_node(&self, id: NodeId, address: String) -> Result<(), NodeChangeError> {
        if self.voters().contains(&id) {
            return Err(NodeChangeError::AlreadyExists(format!(
                "node {id} is in the cluster already"
            )));
        }
        if let Some((other, _)) = self
            .nodes()
            .into_iter()
            .find(|(other, addr)| *addr == address && *other != id)
        {
            return Err(NodeChangeError::Invalid(format!(
                "node {other} is at {address} already"
            )));
        }
        self.identify(id, &address).await?;
        let meta = self.metadata_raft();
        let added = meta
            .add_learner(id, Node::new(address.clone()), false)
            .await
            .map_err(write_error)?;
        let caught_up = self.wait_caught_up(id, added.log_id.index).await;
        if !caught_up {
            // Leave no learner behind that never came: it would be listed as a node.
            let _ = meta
                .change_membership(ChangeMembers::RemoveNodes(BTreeSet::from([id])), false)
                .await;
            return Err(NodeChangeError::Unavailable(format!(
                "node {id} at {address} did not catch up with the metadata log within {} s",
                CATCH_UP_TIMEOUT.as_secs()
            )));
        }
        meta.change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
            .await
            .map_err(write_error)?;
        tracing::info!(node = id, %address, "node added to the cluster");
        Ok(())
    }

    /// Waits until node `id` holds the metadata log up to `index`, as this (leading)
    /// node's replication to it reports.
    async fn wait_caught_up(&self, id: NodeId, index: u64) -> bool {
        holds_log(self.metadata_raft(), id, index, CATCH_UP_TIMEOUT).await
    }

    /// Checks that the node at `address` answers and is node `id`.
    async fn identify(&self, id: NodeId, address: &str) -> Result<(), NodeChangeError> {
        let unreachable = |why: String| {
            NodeChangeError::Unavailable(format!(
                "node {id} at {address} cannot be reached ({why}); start it with --node-id {id} --join first"
            ))
        };
        let channel = self
            .node()
            .channels()
            .probe(id, address)
            .map_err(NodeChangeError::Invalid)?;
        let mut client = ClusterControlClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let message = RaftMessage {
            group: super::groups::METADATA_GROUP.into(),
            body: Default::default(),
        };
        let request = self
            .node()
            .channels()
            .request(message, Duration::from_secs(5));
        let reply = client
            .identify(request)
            .await
            .map_err(|status| unreachable(status.message().to_string()))?;
        let identity: Identity = serde_json::from_slice(&reply.into_inner().body)
            .map_err(|e| unreachable(format!("undecodable answer: {e}")))?;
        if identity.node_id != id {
            return Err(NodeChangeError::Invalid(format!(
                "the node at {address} is node {}, not node {id}",
                identity.node_id
            )));
        }
        Ok(())
    }

    async fn remove_node(&self, id: NodeId) -> Result<(), NodeChangeError> {
        let voters = self.voters();
        let learner = !voters.contains(&id) && self.nodes().contains_key(&id);
        if !voters.contains(&id) && !learner {
            return Err(NodeChangeError::NotFound(format!(
                "node {id} is not in the cluster"
            )));
        }
        if let Some((topic, partition)) = self.partition_on(id) {
            return Err(NodeChangeError::Refused(format!(
                "partition {topic}/{partition} still places a replica on node {id}; move its replicas off first (eventlog topic reassign)"
            )));
        }
        if voters.len() == 1 && !learner {
            return Err(NodeChangeError::Refused(format!(
                "node {id} is the last node of the cluster"
            )));
        }
        let change = match learner {
            true => ChangeMembers::RemoveNodes(BTreeSet::from([id])),
            false => ChangeMembers::RemoveVoters(BTreeSet::from([id])),
        };
        self.metadata_raft()
            .change_membership(change, false)
            .await
            .map_err(write_error)?;
        tracing::info!(node = id, "node removed from the cluster");
        Ok(())
    }

    /// The first partition (by topic, then number) that places a replica on `id`.
    fn partition_on(&self, id: NodeId) -> Option<(String, u32)> {
        let view = self.metadata();
        let state = &view.borrow().0;
        state.topics.iter().find_map(|(topic, placement)| {
            placement
                .replicas
                .iter()
                .position(|set| set.contains(&id))
                .map(|p| (topic.clone(), p as u32))
        })
    }

    /// This node's identity, for `Identify`.
    pub fn identity(&self) -> Identity {
        Identity {
            node_id: self.node_id(),
        }
    }
}

/// Refuses changes that are malformed whoever handles them.
fn check(change: &NodeChange) -> Result<(), NodeChangeError> {
    let id = match change {
        NodeChange::Add { id, address } => {
            if address
                .rsplit_once(':')
                .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
            {
                return Err(NodeChangeError::Invalid(format!(
                    "{address:?} is not HOST:PORT"
                )));
            }
            *id
        }
        NodeChange::Remove { id } => *id,
    };
    if !(1..=1023).contains(&id) {
        return Err(NodeChangeError::Invalid(format!(
            "{id} is not a node id (1 to 1023)"
        )));
    }
    Ok(())
}

/// Whether node `id` comes to hold `raft`'s log up to `index` within `limit`, as the
/// replication of this node (which leads the group) reports.
pub(super) async fn holds_log(
    raft: &super::types::GroupRaft,
    id: NodeId,
    index: u64,
    limit: Duration,
) -> bool {
    let mut metrics = raft.metrics();
    let wait = metrics.wait_for(|m| {
        m.replication
            .as_ref()
            .and_then(|r| r.get(&id))
            .is_some_and(|matched| matched.is_some_and(|l| l.index >= index))
    });
    matches!(tokio::time::timeout(limit, wait).await, Ok(Ok(_)))
}

pub(super) fn write_error(
    error: RaftError<NodeId, ClientWriteError<NodeId, Node>>,
) -> NodeChangeError {
    match error {
        RaftError::APIError(ClientWriteError::ForwardToLeader(_)) => NodeChangeError::NotLeader,
        // Another membership change is under way, or the change is not allowed.
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
            NodeChangeError::Refused(format!("the membership change was refused: {e}"))
        }
        RaftError::Fatal(e) => {
            NodeChangeError::Unavailable(format!("the metadata group stopped: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_changes_are_refused_before_anything_is_asked() {
        let bad_address = NodeChange::Add {
            id: 4,
            address: "nowhere".into(),
        };
        assert!(matches!(
            check(&bad_address),
            Err(NodeChangeError::Invalid(_))
        ));
        let bad_id = NodeChange::Remove { id: 0 };
        assert!(matches!(check(&bad_id), Err(NodeChangeError::Invalid(_))));
        let big_id = NodeChange::Add {
            id: 1024,
            address: "127.0.0.1:1".into(),
        };
        assert!(matches!(check(&big_id), Err(NodeChangeError::Invalid(_))));
        let good = NodeChange::Add {
            id: 4,
            address: "127.0.0.1:50054".into(),
        };
        assert_eq!(check(&good), Ok(()));
    }
}
