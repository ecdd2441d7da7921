//! IncrementalAlterConfigs (versions 0 and 1): SET and DELETE of topic configs under
//! Kafka's names (see [`topic_configs`](crate::kafka::topic_configs)), through the
//! broker's topic config update, or only checked with `validate_only`. All changes of
//! one resource apply together or not at all. A name the server does not know, a
//! read-only one or a bad value is INVALID_CONFIG; a config named twice, a resource
//! named twice, and broker resources (whose settings are read-only here) are
//! INVALID_REQUEST.

use std::collections::HashMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};

use super::describe_configs::{BROKER, TOPIC};
use super::text;
use crate::broker::TopicConfigUpdate;
use crate::kafka::context::Context;
use crate::kafka::errors::code_of;
use crate::kafka::topic_configs;

type Refusal = (i16, String);

/// Answers an IncrementalAlterConfigs request.
pub async fn handle(
    ctx: &Context,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut mentions: HashMap<(i8, String), usize> = HashMap::new();
    for resource in &request.resources {
        let key = (resource.resource_type, resource.resource_name.to_string());
        *mentions.entry(key).or_default() += 1;
    }
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in &request.resources {
        let response = AlterConfigsResourceResponse::default()
            .with_resource_type(resource.resource_type)
            .with_resource_name(resource.resource_name.clone());
        let key = (resource.resource_type, resource.resource_name.to_string());
        let outcome = match mentions[&key] {
            1 => alter(ctx, resource, request.validate_only).await,
            _ => Err((
                ResponseError::InvalidRequest.code(),
                "the resource is named more than once in the request".into(),
            )),
        };
        responses.push(match outcome {
            Ok(()) => response,
            Err((error, why)) => response
                .with_error_code(error)
                .with_error_message(Some(text(&why))),
        });
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

async fn alter(
    ctx: &Context,
    resource: &AlterConfigsResource,
    validate_only: bool,
) -> Result<(), Refusal> {
    match resource.resource_type {
        TOPIC => {}
        BROKER => {
            return Err((
                ResponseError::InvalidRequest.code(),
                "broker configs are read-only here (set them with eventlog serve flags)".into(),
            ));
        }
        other => {
            return Err((
                ResponseError::InvalidRequest.code(),
                format!("resource type {other} has no configs here (topics: 2)"),
            ));
        }
    }
    let update = update_of(resource)?;
    let name = resource.resource_name.as_str();
    let result = match validate_only {
        true => ctx.broker.check_topic_config_update(name, update),
        false => ctx.broker.update_topic_config(name, update).await,
    };
    match result {
        Ok(_) => Ok(()),
        Err(err) => Err((code_of(&err), err.to_string())),
    }
}

/// The change the resource's configs make together.
fn update_of(resource: &AlterConfigsResource) -> Result<TopicConfigUpdate, Refusal> {
    let mut update = TopicConfigUpdate::default();
    let mut seen = std::collections::HashSet::new();
    for config in &resource.configs {
        let name = config.name.as_str();
        if !seen.insert(name) {
            return Err((
                ResponseError::InvalidRequest.code(),
                format!("config {name} is named more than once"),
            ));
        }
        let value = config.value.as_ref().map(|v| v.as_str());
        topic_configs::change(&mut update, name, config.config_operation, value)
            .map_err(|why| (ResponseError::InvalidConfig.code(), why))?;
    }
    Ok(update)
}
