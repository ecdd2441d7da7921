//! FindCoordinator: a single node coordinates every consumer group; in a cluster the
//! metadata group's leader does, and every node names it (by the Kafka address it
//! announced to the cluster). While that leader is unknown, or runs no Kafka listener,
//! the answer is COORDINATOR_NOT_AVAILABLE, which clients retry. Transaction
//! coordinators are not available (transactions are not supported).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::text;
use crate::kafka::cluster_view::{ClusterView, KafkaNode};
use crate::kafka::context::Context;

/// Kafka's key type of a consumer group.
const GROUP_KEY: i8 = 0;

/// Answers a FindCoordinator request (one key before version 4, a list from it).
pub fn handle(
    ctx: &Context,
    request: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let coordinator = ClusterView::of(ctx).ok().and_then(|view| view.coordinator);
    let found = coordinator.filter(|_| request.key_type == GROUP_KEY);
    let code = match found {
        Some(_) => 0,
        None => ResponseError::CoordinatorNotAvailable.code(),
    };
    let node = found.unwrap_or(KafkaNode {
        id: -1,
        host: String::new(),
        port: -1,
    });
    if version >= 4 {
        let coordinators = request
            .coordinator_keys
            .into_iter()
            .map(|key: StrBytes| {
                Coordinator::default()
                    .with_key(key)
                    .with_node_id(BrokerId(node.id))
                    .with_host(text(&node.host))
                    .with_port(node.port)
                    .with_error_code(code)
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    FindCoordinatorResponse::default()
        .with_error_code(code)
        .with_node_id(BrokerId(node.id))
        .with_host(text(&node.host))
        .with_port(node.port)
}
