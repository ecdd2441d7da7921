//! The sending side of node-to-node Raft traffic: one gRPC channel per peer, shared by
//! every group of the node, and a Raft network per group that names its group in each
//! message.
//!
//! Entries travel as the batches they are stored as ([`super::entry_batch`]); the rest
//! of each request and every reply travel as JSON. A peer that cannot be reached, or
//! that does not run the group yet (`NOT_FOUND`, as while a topic is being created),
//! is reported to Raft as unreachable, which retries with backoff.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use super::entry_batch;
use super::peer_security::PeerSecurity;
use super::types::{GroupConfig, Node, NodeId};
use super::wire::AppendHeader;
use crate::proto::cluster::raft_transport_client::RaftTransportClient;
use crate::proto::cluster::{AppendEntriesMessage, RaftMessage, RaftReply};

/// Largest node-to-node message accepted or sent.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// One lazily connected channel per peer, shared by all groups. Every call from this
/// node to another (Raft messages, `ClusterControl` calls, requests handed to a
/// leader or coordinator) dials through here, so a route set here covers them all.
pub struct Channels {
    by_node: Mutex<HashMap<NodeId, (String, Channel)>>,
    tls: Option<ClientTlsConfig>,
    authorization: Option<MetadataValue<Ascii>>,
    /// Fault injection: the address to dial a node at instead of its advertised one.
    routes: BTreeMap<NodeId, String>,
}

impl Channels {
    /// Channels secured by `security`.
    pub fn new(security: &PeerSecurity) -> Result<Channels, String> {
        Ok(Channels {
            by_node: Mutex::new(HashMap::new()),
            tls: security.tls(),
            authorization: security.authorization()?,
            routes: security.routes.clone(),
        })
    }

    /// Where to dial `node`, advertised at `addr`: its route when one is set.
    fn route<'a>(&'a self, node: NodeId, addr: &'a str) -> &'a str {
        self.routes.get(&node).map_or(addr, String::as_str)
    }

    /// `message` as a call to a peer: with the node's token, and a deadline.
    pub fn request<T>(&self, message: T, timeout: Duration) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(timeout);
        if let Some(token) = &self.authorization {
            request
                .metadata_mut()
                .insert("authorization", token.clone());
        }
        request
    }

    /// A channel to `node` at `addr`, not kept: for asking a node that is not a member
    /// yet.
    pub fn probe(&self, node: NodeId, addr: &str) -> Result<Channel, String> {
        self.endpoint(self.route(node, addr))
            .map(|e| e.connect_lazy())
    }

    fn endpoint(&self, addr: &str) -> Result<Endpoint, String> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let uri = if addr.contains("://") {
            addr.to_string()
        } else {
            format!("{scheme}://{addr}")
        };
        let mut endpoint = Endpoint::from_shared(uri)
            .map_err(|e| format!("bad address {addr:?}: {e}"))?
            .connect_timeout(Duration::from_secs(1))
            .tcp_nodelay(true);
        if let Some(tls) = &self.tls {
            endpoint = endpoint
                .tls_config(tls.clone())
                .map_err(|e| format!("TLS to {addr}: {e}"))?;
        }
        Ok(endpoint)
    }

    /// The channel to `node` at `addr` (a new one if the address changed).
    pub fn get(&self, node: NodeId, addr: &str) -> Result<Channel, String> {
        let addr = self.route(node, addr);
        let mut by_node = self.by_node.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((known, channel)) = by_node.get(&node)
            && known == addr
        {
            return Ok(channel.clone());
        }
        let endpoint = self
            .endpoint(addr)
            .map_err(|e| format!("node {node}: {e}"))?;
        let channel = endpoint.connect_lazy();
        by_node.insert(node, (addr.to_string(), channel.clone()));
        Ok(channel)
    }
}

/// The Raft network of one group.
#[derive(Clone)]
pub struct GroupNetwork {
    channels: Arc<Channels>,
    group: String,
}

impl GroupNetwork {
    /// The network of `group` over the node's `channels`.
    pub fn new(channels: Arc<Channels>, group: String) -> GroupNetwork {
        GroupNetwork { channels, group }
    }
}

impl RaftNetworkFactory<GroupConfig> for GroupNetwork {
    type Network = PeerLink;

    async fn new_client(&mut self, target: NodeId, node: &Node) -> PeerLink {
        PeerLink {
            target,
            channels: Arc::clone(&self.channels),
            group: self.group.clone(),
            client: self.channels.get(target, &node.addr).map(|c| {
                RaftTransportClient::new(c)
                    .max_decoding_message_size(MAX_MESSAGE_BYTES)
                    .max_encoding_message_size(MAX_MESSAGE_BYTES)
            }),
        }
    }
}

/// A group's link to one peer.
pub struct PeerLink {
    target: NodeId,
    channels: Arc<Channels>,
    group: String,
    client: Result<RaftTransportClient<Channel>, String>,
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, Node, RaftError<NodeId, E>>>;

impl PeerLink {
    fn client(&self) -> Result<RaftTransportClient<Channel>, Unreachable> {
        self.client
            .clone()
            .map_err(|e| Unreachable::new(&AnyErrorText(e)))
    }

    /// Decodes a reply: the response, or the peer's Raft error.
    fn decode<T: DeserializeOwned, E: DeserializeOwned + std::error::Error>(
        &self,
        reply: Result<tonic::Response<RaftReply>, tonic::Status>,
    ) -> RpcResult<T, E> {
        let reply = match reply {
            Ok(reply) => reply.into_inner(),
            Err(status) => {
                return Err(RPCError::Unreachable(Unreachable::new(&AnyErrorText(
                    format!("node {}: {}", self.target, status.message()),
                ))));
            }
        };
        let result: Result<T, RaftError<NodeId, E>> = serde_json::from_slice(&reply.body)
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<GroupConfig> for PeerLink {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<GroupConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        let mut client = self.client().map_err(RPCError::Unreachable)?;
        let header = AppendHeader {
            vote: rpc.vote,
            prev_log_id: rpc.prev_log_id,
            leader_commit: rpc.leader_commit,
        };
        let mut batches = Vec::with_capacity(rpc.entries.len());
        for entry in &rpc.entries {
            let batch = entry_batch::to_batch(entry)
                .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
            batches.push(batch.into());
        }
        let message = AppendEntriesMessage {
            group: self.group.clone(),
            header: serde_json::to_vec(&header).unwrap_or_default().into(),
            batches,
        };
        let request = self.channels.request(message, option.hard_ttl());
        let reply = client.append_entries(request).await;
        self.decode(reply)
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<GroupConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        let mut client = self.client().map_err(RPCError::Unreachable)?;
        let request = self.channels.request(self.message(&rpc), option.hard_ttl());
        let reply = client.install_snapshot(request).await;
        self.decode(reply)
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        let mut client = self.client().map_err(RPCError::Unreachable)?;
        let request = self.channels.request(self.message(&rpc), option.hard_ttl());
        let reply = client.vote(request).await;
        self.decode(reply)
    }
}

impl PeerLink {
    fn message(&self, body: &impl serde::Serialize) -> RaftMessage {
        RaftMessage {
            group: self.group.clone(),
            body: serde_json::to_vec(body).unwrap_or_default().into(),
        }
    }
}

/// A message as an error value, for Raft's error wrappers.
#[derive(Debug)]
struct AnyErrorText(String);

impl std::fmt::Display for AnyErrorText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AnyErrorText {}
