//! The receiving side of node-to-node Raft traffic: a gRPC service that hands each
//! message to the named group of this node.
//!
//! A message for a group this node does not run (yet) is `NOT_FOUND`, which the sender
//! treats as unreachable and retries, as is a vote asked of a node that is rejoining
//! after losing its data (`UNAVAILABLE`); a message that does not decode is
//! `INVALID_ARGUMENT`. Raft's own answer, success or error, travels as JSON.

use std::sync::Arc;

use bytes::Bytes;
use openraft::raft::AppendEntriesRequest;
use serde::Serialize;
use tonic::{Request, Response, Status};

use super::entry_batch;
use super::groups::Groups;
use super::types::{Entry, GroupConfig, GroupRaft};
use super::wire::AppendHeader;
use crate::proto::cluster::raft_transport_server::RaftTransport;
use crate::proto::cluster::{AppendEntriesMessage, RaftMessage, RaftReply};
use crate::storage::RawBatch;
use crate::storage::batch::BatchFormat;
use crate::storage::segment::check_batch_crc;

/// The node-to-node Raft service of one node.
pub struct TransportService {
    groups: Arc<Groups>,
}

impl TransportService {
    /// The service over the node's `groups`.
    pub fn new(groups: Arc<Groups>) -> TransportService {
        TransportService { groups }
    }

    fn group(&self, name: &str) -> Result<GroupRaft, Status> {
        self.groups
            .get(name)
            .ok_or_else(|| Status::not_found(format!("this node runs no group {name:?}")))
    }
}

fn invalid(what: &str, e: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("undecodable {what}: {e}"))
}

fn reply<T: Serialize>(result: &T) -> Result<Response<RaftReply>, Status> {
    let body = serde_json::to_vec(result).map_err(|e| Status::internal(e.to_string()))?;
    Ok(Response::new(RaftReply { body: body.into() }))
}

/// The entry that a received batch holds at `index`.
fn decode_entry(batch: &Bytes, index: u64) -> Result<Entry, Status> {
    let header = check_batch_crc(BatchFormat::V2, batch).map_err(|e| invalid("entry batch", e))?;
    if header.length as usize != batch.len() {
        return Err(invalid("entry batch", "length does not match its header"));
    }
    let raw = RawBatch {
        header,
        format: BatchFormat::V2,
        bytes: batch.clone(),
    };
    entry_batch::from_batch(&raw, index).map_err(|e| invalid("entry batch", e))
}

#[tonic::async_trait]
impl RaftTransport for TransportService {
    async fn append_entries(
        &self,
        request: Request<AppendEntriesMessage>,
    ) -> Result<Response<RaftReply>, Status> {
        let message = request.into_inner();
        let raft = self.group(&message.group)?;
        let header: AppendHeader =
            serde_json::from_slice(&message.header).map_err(|e| invalid("header", e))?;
        let first = header.prev_log_id.map_or(0, |p| p.index + 1);
        let entries = message
            .batches
            .iter()
            .enumerate()
            .map(|(i, batch)| decode_entry(batch, first + i as u64))
            .collect::<Result<Vec<_>, _>>()?;
        let rpc = AppendEntriesRequest::<GroupConfig> {
            vote: header.vote,
            prev_log_id: header.prev_log_id,
            entries,
            leader_commit: header.leader_commit,
        };
        reply(&raft.append_entries(rpc).await)
    }

    async fn vote(&self, request: Request<RaftMessage>) -> Result<Response<RaftReply>, Status> {
        if self.groups.rejoining() {
            // It forgot the votes it cast before losing its data: voting now could
            // elect two leaders in one term. The candidate counts it as unreachable.
            return Err(Status::unavailable(
                "this node is rejoining after losing its data and casts no vote yet",
            ));
        }
        let message = request.into_inner();
        let raft = self.group(&message.group)?;
        let rpc = serde_json::from_slice(&message.body).map_err(|e| invalid("vote", e))?;
        reply(&raft.vote(rpc).await)
    }

    async fn install_snapshot(
        &self,
        request: Request<RaftMessage>,
    ) -> Result<Response<RaftReply>, Status> {
        let message = request.into_inner();
        let raft = self.group(&message.group)?;
        let rpc = serde_json::from_slice(&message.body).map_err(|e| invalid("snapshot", e))?;
        reply(&raft.install_snapshot(rpc).await)
    }
}
