//! The calling side of `eventlog.cluster.v1.PartitionReads`: a node that holds no
//! replica of a partition serves a client's read of it by asking a node that does.
//!
//! Any replica will do, leader or follower: each answers only what its group has
//! committed (a follower that lags a moment behind is waited for on the answering
//! side, see the service). The holders are tried in turn, starting at a different one
//! on each node so that forwarded reads spread over the replicas; a holder that cannot
//! be reached or says it holds no replica (it may have just moved) is passed over, and
//! any other answer (data, or a refusal such as an offset out of range) is final.

use std::future::Future;
use std::time::Duration;

use tonic::Code;
use tonic::transport::Channel;

use super::network::MAX_MESSAGE_BYTES;
use super::runtime::Cluster;
use super::types::NodeId;
use crate::proto::cluster::partition_reads_client::PartitionReadsClient;
use crate::proto::cluster::{
    RemoteOffsetsReply, RemoteOffsetsRequest, RemoteReadReply, RemoteReadRequest,
};

/// Time a holder gets to answer, beyond the read's own wait for data.
const ANSWER_TIME: Duration = Duration::from_secs(10);

/// Why a read could not be served by another node.
#[derive(Debug, thiserror::Error)]
pub enum RemoteReadFailure {
    /// No node holds a replica, as far as this node's metadata says.
    #[error("no node holds a replica of it")]
    NoReplica,
    /// Every holder was tried; none could serve it (each failure named).
    #[error("no node holding a replica could serve it: {0}")]
    Unreachable(String),
    /// A holder refused the read (its answer, as it gave it).
    #[error("{}", .0.message())]
    Refused(tonic::Status),
}

impl Cluster {
    /// Reads `request` from a replica on another node; waits there up to
    /// `request.max_wait_ms` for data.
    pub async fn read_elsewhere(
        &self,
        request: RemoteReadRequest,
    ) -> Result<RemoteReadReply, RemoteReadFailure> {
        let timeout = Duration::from_millis(request.max_wait_ms) + ANSWER_TIME;
        let (topic, partition) = (request.topic.clone(), request.partition);
        self.ask_holders(&topic, partition, |mut client| {
            let call = self.node().channels().request(request.clone(), timeout);
            async move { client.read(call).await }
        })
        .await
    }

    /// The first and next offsets of a replica on another node (and the first offset
    /// at or after `request.timestamp_ms`, when asked), with its size.
    pub async fn offsets_elsewhere(
        &self,
        request: RemoteOffsetsRequest,
    ) -> Result<RemoteOffsetsReply, RemoteReadFailure> {
        let (topic, partition) = (request.topic.clone(), request.partition);
        self.ask_holders(&topic, partition, |mut client| {
            let call = self.node().channels().request(request.clone(), ANSWER_TIME);
            async move { client.offsets(call).await }
        })
        .await
    }

    /// Asks the partition's holders in turn with `ask` until one answers (see the
    /// module docs for which answers pass a holder over).
    async fn ask_holders<T, Answer>(
        &self,
        topic: &str,
        partition: u32,
        ask: impl Fn(PartitionReadsClient<Channel>) -> Answer,
    ) -> Result<T, RemoteReadFailure>
    where
        Answer: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let mut failures = Vec::new();
        for node in self.read_holders(topic, partition)? {
            let answer = match self.reads_client(node) {
                Ok(client) => ask(client).await,
                Err(reason) => Err(tonic::Status::unavailable(reason)),
            };
            match answer {
                Ok(reply) => return Ok(reply.into_inner()),
                Err(status) if passed_over(&status) => {
                    failures.push(format!("node {node}: {}", status.message()));
                }
                Err(status) => return Err(RemoteReadFailure::Refused(status)),
            }
        }
        Err(RemoteReadFailure::Unreachable(failures.join("; ")))
    }

    /// The other nodes holding a replica of the partition, in the order to try them:
    /// rotated by this node's id, so that nodes without a replica spread their reads.
    fn read_holders(&self, topic: &str, partition: u32) -> Result<Vec<NodeId>, RemoteReadFailure> {
        let mut holders: Vec<NodeId> = self
            .replicas_of(topic, partition)
            .unwrap_or_default()
            .into_iter()
            .filter(|id| *id != self.node_id())
            .collect();
        if holders.is_empty() {
            return Err(RemoteReadFailure::NoReplica);
        }
        let turn = (self.node_id() as usize) % holders.len();
        holders.rotate_left(turn);
        Ok(holders)
    }

    fn reads_client(&self, node: NodeId) -> Result<PartitionReadsClient<Channel>, String> {
        let channel = self.member_channel(node)?;
        Ok(PartitionReadsClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES))
    }
}

/// Whether a holder's answer means "try another holder": it could not be reached, is
/// shutting down, or holds no replica (any more). Transport failures surface as
/// UNAVAILABLE or, for a broken connection, UNKNOWN.
fn passed_over(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable | Code::Unknown | Code::DeadlineExceeded | Code::Cancelled
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unreachable_holders_are_passed_over() {
        assert!(passed_over(&tonic::Status::unavailable("down")));
        assert!(passed_over(&tonic::Status::unknown("transport error")));
        assert!(!passed_over(&tonic::Status::out_of_range("below")));
        assert!(!passed_over(&tonic::Status::data_loss("bad crc")));
        assert!(!passed_over(&tonic::Status::permission_denied("no")));
    }
}
