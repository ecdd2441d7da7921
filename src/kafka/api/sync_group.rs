//! SyncGroup: hands a member the partitions the coordinator gave it, as a consumer
//! protocol assignment. A leader's proposed assignments are ignored: the coordinator
//! has computed the group's.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use super::text;
use crate::kafka::context::Context;
use crate::kafka::errors::classic_code;
use crate::kafka::group_protocol::{CONSUMER, encode_assignment, not_coordinator};

/// Answers a SyncGroup request.
pub fn handle(ctx: &Context, request: SyncGroupRequest) -> SyncGroupResponse {
    if let Some(code) = not_coordinator(ctx) {
        return SyncGroupResponse::default().with_error_code(code);
    }
    if request
        .protocol_type
        .as_ref()
        .is_some_and(|t| t.as_str() != CONSUMER)
    {
        return SyncGroupResponse::default()
            .with_error_code(ResponseError::InconsistentGroupProtocol.code());
    }
    let synced = ctx.broker.classic_sync(
        request.group_id.as_str(),
        request.member_id.as_str(),
        request.generation_id,
    );
    match synced {
        Ok(assigned) => SyncGroupResponse::default()
            .with_protocol_type(Some(text(CONSUMER)))
            .with_protocol_name(request.protocol_name)
            .with_assignment(encode_assignment(&assigned)),
        Err(err) => SyncGroupResponse::default().with_error_code(classic_code(&err)),
    }
}
