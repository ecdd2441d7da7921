//! FindCoordinator: this node coordinates every consumer group. In a cluster only the
//! metadata group's leader does, and the Kafka addresses of other nodes are not known
//! here, so another node answers COORDINATOR_NOT_AVAILABLE (clients retry) rather than
//! name itself. Transaction coordinators are not available (transactions are not
//! supported).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::text;
use crate::kafka::context::{Context, NODE_ID};

/// Kafka's key type of a consumer group.
const GROUP_KEY: i8 = 0;

/// Answers a FindCoordinator request (one key before version 4, a list from it).
pub fn handle(
    ctx: &Context,
    request: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let elsewhere = crate::kafka::group_protocol::not_coordinator(ctx).is_some();
    let error = (request.key_type != GROUP_KEY || elsewhere)
        .then_some(ResponseError::CoordinatorNotAvailable);
    let code = error.map_or(0, |e| e.code());
    let node = if error.is_some() { -1 } else { NODE_ID };
    if version >= 4 {
        let coordinators = request
            .coordinator_keys
            .into_iter()
            .map(|key: StrBytes| {
                Coordinator::default()
                    .with_key(key)
                    .with_node_id(BrokerId(node))
                    .with_host(text(&ctx.host))
                    .with_port(ctx.port)
                    .with_error_code(code)
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    FindCoordinatorResponse::default()
        .with_error_code(code)
        .with_node_id(BrokerId(node))
        .with_host(text(&ctx.host))
        .with_port(ctx.port)
}
