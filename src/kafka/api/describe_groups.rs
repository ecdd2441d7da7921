//! DescribeGroups: a group's state, protocol and members (Kafka and gRPC members
//! alike) with their subscriptions and assignments. A group without members but with
//! commits is `Empty`; one with neither is `Dead` (GROUP_ID_NOT_FOUND from version 6,
//! as Kafka answers).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse, GroupId};
use kafka_protocol::protocol::StrBytes;

use super::text;
use crate::broker::BrokerError;
use crate::broker::membership::GroupMembership;
use crate::kafka::context::Context;
use crate::kafka::errors::code_of;
use crate::kafka::group_protocol::{
    CONSUMER, encode_assignment, encode_subscription, not_coordinator,
};

/// The client id shown for members that joined over gRPC.
const GRPC_CLIENT_ID: &str = "eventlog-grpc";

/// Answers a DescribeGroups request.
pub async fn handle(
    ctx: &Context,
    request: DescribeGroupsRequest,
    version: i16,
) -> DescribeGroupsResponse {
    let mut groups = Vec::with_capacity(request.groups.len());
    for group in request.groups {
        groups.push(describe(ctx, group, version).await);
    }
    DescribeGroupsResponse::default().with_groups(groups)
}

async fn describe(ctx: &Context, group: GroupId, version: i16) -> DescribedGroup {
    let answer = DescribedGroup::default()
        .with_group_id(group.clone())
        .with_protocol_type(text(CONSUMER));
    if let Some(code) = not_coordinator(ctx) {
        return answer.with_error_code(code);
    }
    match ctx.broker.describe_group_members(group.as_str()).await {
        Ok((Some(membership), _)) => with_members(ctx, answer, group.as_str(), &membership),
        Ok((None, _)) => answer.with_group_state(text("Empty")),
        Err(BrokerError::GroupNotFound { .. }) => {
            let answer = answer
                .with_group_state(text("Dead"))
                .with_protocol_type(StrBytes::default());
            match version {
                6.. => answer.with_error_code(ResponseError::GroupIdNotFound.code()),
                _ => answer,
            }
        }
        Err(err) => answer.with_error_code(code_of(&err)),
    }
}

/// A group with live members: `Stable` unless partitions are still moving.
fn with_members(
    ctx: &Context,
    answer: DescribedGroup,
    group: &str,
    membership: &GroupMembership,
) -> DescribedGroup {
    let classic = ctx.broker.classic_members(group);
    let moving = membership.members.iter().any(|m| !m.revoking.is_empty());
    let state = if moving {
        "PreparingRebalance"
    } else {
        "Stable"
    };
    let protocol = classic
        .values()
        .next()
        .map_or(membership.strategy.name().to_string(), |m| {
            m.protocol.clone()
        });
    let members = membership
        .members
        .iter()
        .map(|m| {
            let kafka = classic.get(&m.member_id);
            let metadata = kafka.map_or_else(
                || encode_subscription(&membership.topics),
                |k| k.metadata.clone(),
            );
            DescribedGroupMember::default()
                .with_member_id(text(&m.member_id))
                .with_group_instance_id(m.instance_id.as_deref().map(text))
                .with_client_id(text(kafka.map_or(GRPC_CLIENT_ID, |k| &k.client_id)))
                .with_client_host(text(&m.client))
                .with_member_metadata(metadata)
                .with_member_assignment(encode_assignment(&m.assigned))
        })
        .collect();
    answer
        .with_group_state(text(state))
        .with_protocol_data(text(&protocol))
        .with_members(members)
}
