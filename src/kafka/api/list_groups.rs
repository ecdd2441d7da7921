//! ListGroups: every group with committed offsets or live members, as classic consumer
//! groups: `Stable` while it has members (Kafka or gRPC), `Empty` otherwise (what Kafka
//! reports for a group of simple consumers).

use std::collections::BTreeMap;

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::text;
use crate::kafka::context::Context;
use crate::kafka::errors::code_of;
use crate::kafka::group_protocol::{CONSUMER, not_coordinator};

/// The state of a group with live members.
const WITH_MEMBERS: &str = "Stable";
/// The state of a group with commits only.
const WITHOUT_MEMBERS: &str = "Empty";

/// Answers a ListGroups request.
pub fn handle(ctx: &Context, request: ListGroupsRequest) -> ListGroupsResponse {
    let committed = match ctx.broker.list_groups() {
        Ok(groups) => groups,
        Err(err) => return ListGroupsResponse::default().with_error_code(code_of(&err)),
    };
    let mut states: BTreeMap<String, &str> = committed
        .into_iter()
        .map(|g| (g.group, WITHOUT_MEMBERS))
        .collect();
    // Members live only on the coordinator; elsewhere the groups are listed from the
    // commits alone.
    if not_coordinator(ctx).is_none() {
        for group in ctx.broker.groups_with_members() {
            states.insert(group, WITH_MEMBERS);
        }
    }
    let wanted = |state: &str| {
        request.states_filter.is_empty()
            || request
                .states_filter
                .iter()
                .any(|s| s.as_str().eq_ignore_ascii_case(state))
    };
    let listed = states
        .into_iter()
        .filter(|(_, state)| wanted(state))
        .map(|(group, state)| {
            ListedGroup::default()
                .with_group_id(GroupId(text(&group)))
                .with_protocol_type(text(CONSUMER))
                .with_group_state(text(state))
        })
        .collect();
    ListGroupsResponse::default().with_groups(listed)
}
