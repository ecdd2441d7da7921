//! A call to another node's `ClusterControl` whose request and answer are JSON (the
//! body of a `RaftMessage` and of its `RaftReply`), with every failure told as one line
//! naming the node.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::transport::Channel;

use super::runtime::Cluster;
use super::types::NodeId;
use crate::proto::cluster::cluster_control_client::ClusterControlClient;
use crate::proto::cluster::{RaftMessage, RaftReply};

/// A client of another node and the request to send it.
type Call = (ClusterControlClient<Channel>, tonic::Request<RaftMessage>);

impl Cluster {
    /// A client of node `node` and the request carrying `body` for `group`, given
    /// `timeout` to answer.
    pub(super) fn json_call(
        &self,
        node: NodeId,
        group: String,
        body: &impl Serialize,
        timeout: Duration,
    ) -> Result<Call, String> {
        let client = self
            .control_client(node)
            .map_err(|e| format!("node {node} cannot be reached: {e}"))?;
        let body = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        let message = RaftMessage {
            group,
            body: body.into(),
        };
        Ok((client, self.node().channels().request(message, timeout)))
    }
}

/// Node `node`'s answer to a call made with [`Cluster::json_call`].
pub(super) fn json_answer<T: DeserializeOwned>(
    node: NodeId,
    reply: Result<tonic::Response<RaftReply>, tonic::Status>,
) -> Result<T, String> {
    let reply =
        reply.map_err(|status| format!("node {node} does not answer: {}", status.message()))?;
    serde_json::from_slice(&reply.into_inner().body)
        .map_err(|e| format!("undecodable answer from node {node}: {e}"))
}
