//! LeaveGroup: members leave at once and their partitions go to the others. Versions
//! before 3 name one member; later ones a list, each answered on its own.

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use crate::kafka::context::Context;
use crate::kafka::errors::classic_code;
use crate::kafka::group_protocol::not_coordinator;

/// Answers a LeaveGroup request.
pub fn handle(ctx: &Context, request: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
    if let Some(code) = not_coordinator(ctx) {
        return LeaveGroupResponse::default().with_error_code(code);
    }
    let group = request.group_id.as_str();
    let leave = |member: &str| {
        ctx.broker
            .classic_leave(group, member)
            .err()
            .map_or(0, |e| classic_code(&e))
    };
    if version < 3 {
        return LeaveGroupResponse::default().with_error_code(leave(request.member_id.as_str()));
    }
    let members = request
        .members
        .into_iter()
        .map(|m| {
            MemberResponse::default()
                .with_error_code(leave(m.member_id.as_str()))
                .with_member_id(m.member_id)
                .with_group_instance_id(m.group_instance_id)
        })
        .collect();
    LeaveGroupResponse::default().with_members(members)
}
