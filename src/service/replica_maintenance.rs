//! The answering side of `eventlog.cluster.v1.ReplicaMaintenance`: another node,
//! serving a client's `CompactTopic`, asks this one to compact its own replicas of the
//! topic (see `broker::remote_compact`). This node never asks on.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::broker::{Broker, PartitionCompaction};
use crate::proto::cluster::replica_maintenance_server::ReplicaMaintenance;
use crate::proto::cluster::{RemoteCompactReply, RemoteCompactRequest, ReplicaCompaction};

/// The `ReplicaMaintenance` service of one node.
pub struct ReplicaMaintenanceService {
    broker: Arc<Broker>,
}

impl ReplicaMaintenanceService {
    /// The service over `broker`'s replicas.
    pub fn new(broker: Arc<Broker>) -> ReplicaMaintenanceService {
        ReplicaMaintenanceService { broker }
    }
}

#[tonic::async_trait]
impl ReplicaMaintenance for ReplicaMaintenanceService {
    async fn compact(
        &self,
        request: Request<RemoteCompactRequest>,
    ) -> Result<Response<RemoteCompactReply>, Status> {
        let request = request.into_inner();
        let done = self
            .broker
            .compact_replicas(&request.topic, request.dry_run)
            .await?;
        Ok(Response::new(RemoteCompactReply {
            partitions: done.iter().map(replica_compaction).collect(),
        }))
    }
}

fn replica_compaction(done: &PartitionCompaction) -> ReplicaCompaction {
    let stats = &done.stats;
    ReplicaCompaction {
        partition: done.partition,
        segments_before: stats.segments_before as u64,
        segments_after: stats.segments_after as u64,
        bytes_before: stats.bytes_before,
        bytes_after: stats.bytes_after,
        records_removed: stats.records_removed,
        tombstones_removed: stats.tombstones_removed,
        duration_ms: u64::try_from(stats.duration.as_millis()).unwrap_or(u64::MAX),
    }
}
