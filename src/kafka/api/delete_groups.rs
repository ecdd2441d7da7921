//! DeleteGroups: removes groups' committed offsets; a group with live members is
//! NON_EMPTY_GROUP, one without commits GROUP_ID_NOT_FOUND.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use crate::kafka::context::Context;
use crate::kafka::errors::code_of;
use crate::kafka::group_protocol::not_coordinator;

/// Answers a DeleteGroups request.
pub async fn handle(ctx: &Context, request: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let mut results = Vec::with_capacity(request.groups_names.len());
    for group in request.groups_names {
        let code = match not_coordinator(ctx) {
            Some(code) => code,
            None => match ctx.broker.delete_group(group.as_str(), false).await {
                Ok(_) => 0,
                Err(err) => code_of(&err),
            },
        };
        results.push(
            DeletableGroupResult::default()
                .with_group_id(group)
                .with_error_code(code),
        );
    }
    DeleteGroupsResponse::default().with_results(results)
}
