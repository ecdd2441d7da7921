//! Heartbeat: keeps a member's session; REBALANCE_IN_PROGRESS tells it to join again
//! because its partitions changed.

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use crate::kafka::context::Context;
use crate::kafka::errors::classic_code;
use crate::kafka::group_protocol::not_coordinator;

/// Answers a Heartbeat request.
pub fn handle(ctx: &Context, request: HeartbeatRequest) -> HeartbeatResponse {
    if let Some(code) = not_coordinator(ctx) {
        return HeartbeatResponse::default().with_error_code(code);
    }
    let beat = ctx.broker.classic_heartbeat(
        request.group_id.as_str(),
        request.member_id.as_str(),
        request.generation_id,
    );
    HeartbeatResponse::default().with_error_code(beat.err().map_or(0, |e| classic_code(&e)))
}
