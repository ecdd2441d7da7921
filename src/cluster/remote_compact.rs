//! The calling side of `eventlog.cluster.v1.ReplicaMaintenance`: a node serving a
//! client's on-demand compaction of a topic asks every other node holding a replica
//! of it to compact theirs, so the whole topic is compacted through any node.

use std::collections::BTreeSet;
use std::time::Duration;

use super::network::MAX_MESSAGE_BYTES;
use super::runtime::Cluster;
use super::types::NodeId;
use crate::proto::cluster::replica_maintenance_client::ReplicaMaintenanceClient;
use crate::proto::cluster::{RemoteCompactReply, RemoteCompactRequest};

/// Time a node gets to compact its replicas of a topic: compaction reads and rewrites
/// every sealed segment, so this is generous; the client's own deadline still holds.
const COMPACT_TIME: Duration = Duration::from_secs(30 * 60);

impl Cluster {
    /// The other nodes holding a replica of some partition of `topic`, by id.
    pub fn other_holders_of(&self, topic: &str) -> Vec<NodeId> {
        let metadata = self.metadata();
        let view = metadata.borrow();
        let holders: BTreeSet<NodeId> = view
            .0
            .topics
            .get(topic)
            .map(|t| t.replicas.iter().flatten().copied().collect())
            .unwrap_or_default();
        holders
            .into_iter()
            .filter(|id| *id != self.node_id())
            .collect()
    }

    /// Asks `node` to compact (or estimate) its replicas of `request.topic`; its
    /// answer, or why it could not be asked or refused (the caller names the node).
    pub async fn compact_on(
        &self,
        node: NodeId,
        request: RemoteCompactRequest,
    ) -> Result<RemoteCompactReply, String> {
        let channel = self.member_channel(node)?;
        let mut client = ReplicaMaintenanceClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let call = self.node().channels().request(request, COMPACT_TIME);
        match client.compact(call).await {
            Ok(reply) => Ok(reply.into_inner()),
            Err(status) if status.code() == tonic::Code::Unimplemented => Err(
                "it runs a version that cannot be asked to compact (its replicas compact in the background)"
                    .to_string(),
            ),
            Err(status) => Err(status.message().to_string()),
        }
    }
}
