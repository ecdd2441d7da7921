//! The answering side of `eventlog.cluster.v1.ReplicaMaintenance`: another node,
//! serving a client's `CompactTopic`, asks this one to compact its own replicas of the
//! topic (see `broker::remote_compact`). This node never asks on.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::broker::Broker;
use crate::proto::cluster::replica_maintenance_server::ReplicaMaintenance;
use crate::proto::cluster::{RemoteCompactReply, RemoteCompactRequest};

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
            partitions: done.into_iter().map(Into::into).collect(),
        }))
    }
}
