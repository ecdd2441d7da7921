//! ListGroups: every group with committed offsets. Without membership they are all
//! "Empty" classic consumer groups (what Kafka reports for a group of simple consumers).

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::text;
use crate::kafka::context::Context;
use crate::kafka::errors::code_of;

/// The state every listed group is in.
const STATE: &str = "Empty";

/// Answers a ListGroups request.
pub fn handle(ctx: &Context, request: ListGroupsRequest) -> ListGroupsResponse {
    let groups = match ctx.broker.list_groups() {
        Ok(groups) => groups,
        Err(err) => return ListGroupsResponse::default().with_error_code(code_of(&err)),
    };
    let wanted = request.states_filter.is_empty()
        || request
            .states_filter
            .iter()
            .any(|s| s.as_str().eq_ignore_ascii_case(STATE));
    let listed = groups
        .into_iter()
        .filter(|_| wanted)
        .map(|g| {
            ListedGroup::default()
                .with_group_id(GroupId(text(&g.group)))
                .with_protocol_type(text("consumer"))
                .with_group_state(text(STATE))
        })
        .collect();
    ListGroupsResponse::default().with_groups(listed)
}
