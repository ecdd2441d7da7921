//! `GET /api/v1/cluster`: the nodes of the cluster as this node sees them, for the
//! console's overview. A single node reports node id 0 and no nodes.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiError;
use super::body::Reply;
use crate::broker::Broker;
use crate::service::scope::Scope;

/// The cluster's nodes.
#[derive(Debug, Serialize, ToSchema)]
pub struct Cluster {
    /// This node's id (0 for a single node).
    node_id: u64,
    /// Every node, by id.
    nodes: Vec<Node>,
    /// The metadata group's leader, when known.
    metadata_leader: Option<u64>,
}

/// One node.
#[derive(Debug, Serialize, ToSchema)]
pub struct Node {
    id: u64,
    address: String,
    /// Where Kafka clients reach the node, when it runs a Kafka listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    kafka_address: Option<String>,
}

/// Describes the cluster's nodes.
#[utoipa::path(get, path = "/api/v1/cluster", tag = "cluster",
    responses((status = 200, body = Cluster), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn describe(
    State(broker): State<Arc<Broker>>,
    Extension(_scope): Extension<Scope>,
) -> Result<Reply<Cluster>, ApiError> {
    let description = broker.describe_cluster()?;
    let kafka = description.kafka;
    let nodes = description
        .nodes
        .into_iter()
        .map(|(id, address)| Node {
            id,
            kafka_address: kafka.get(&id).cloned(),
            address,
        })
        .collect();
    Ok(Reply(
        StatusCode::OK,
        Cluster {
            node_id: description.node_id,
            nodes,
            metadata_leader: description.metadata_leader,
        },
    ))
}
