//! DescribeConfigs (versions 1 to 4): a topic's configuration under Kafka's names (see
//! [`topic_configs`](crate::kafka::topic_configs)), and for the broker resource a
//! small read-only set describing this server's defaults. Other resource types are
//! INVALID_REQUEST; an unknown topic UNKNOWN_TOPIC_OR_PARTITION.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::text;
use crate::kafka::context::{Context, NODE_ID};
use crate::kafka::errors::code_of;
use crate::kafka::topic_configs::{self, ConfigType, Entry};

/// Kafka's resource types.
pub const TOPIC: i8 = 2;
/// See [`TOPIC`].
pub const BROKER: i8 = 4;

/// Kafka's config sources.
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const STATIC_BROKER_CONFIG: i8 = 4;
const DEFAULT_CONFIG: i8 = 5;

/// Answers a DescribeConfigs request.
pub fn handle(
    ctx: &Context,
    request: DescribeConfigsRequest,
    version: i16,
) -> DescribeConfigsResponse {
    let results = request
        .resources
        .iter()
        .map(|resource| {
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            match entries(ctx, resource) {
                Ok((entries, source)) => {
                    let configs = entries
                        .into_iter()
                        .filter(|e| wanted(resource, e.name))
                        .map(|e| config_of(e, source, version))
                        .collect();
                    result.with_configs(configs)
                }
                Err((code, why)) => result
                    .with_error_code(code)
                    .with_error_message(Some(text(&why))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

type Refusal = (i16, String);

/// The resource's configs, and the source of those not at their default.
fn entries(ctx: &Context, resource: &DescribeConfigsResource) -> Result<(Vec<Entry>, i8), Refusal> {
    let name = resource.resource_name.as_str();
    match resource.resource_type {
        TOPIC => {
            let topics = ctx
                .broker
                .list_topics()
                .map_err(|err| (code_of(&err), err.to_string()))?;
            let topic = topics.into_iter().find(|t| t.name == name).ok_or_else(|| {
                (
                    ResponseError::UnknownTopicOrPartition.code(),
                    format!("topic {name} does not exist"),
                )
            })?;
            let default_segment_bytes = ctx.broker.config().default_segment_bytes;
            let entries = topic_configs::describe(&topic.config, default_segment_bytes);
            Ok((entries, DYNAMIC_TOPIC_CONFIG))
        }
        BROKER if name.is_empty() || name == NODE_ID.to_string() => {
            Ok((broker_entries(ctx), STATIC_BROKER_CONFIG))
        }
        BROKER => Err((
            ResponseError::InvalidRequest.code(),
            format!("no broker {name:?} here: this listener is broker {NODE_ID}"),
        )),
        other => Err((
            ResponseError::InvalidRequest.code(),
            format!("resource type {other} has no configs here (topics: 2, broker: 4)"),
        )),
    }
}

/// The broker's read-only settings that Kafka tools look for.
fn broker_entries(ctx: &Context) -> Vec<Entry> {
    let config = ctx.broker.config();
    let entry = |name, value: String, kind| Entry {
        name,
        value,
        default: false,
        read_only: true,
        kind,
    };
    vec![
        entry("broker.id", NODE_ID.to_string(), ConfigType::Int),
        entry(
            "auto.create.topics.enable",
            ctx.auto_create_topics.to_string(),
            ConfigType::Str,
        ),
        entry("num.partitions", "1".into(), ConfigType::Int),
        entry(
            "log.segment.bytes",
            config.default_segment_bytes.to_string(),
            ConfigType::Int,
        ),
        entry("log.retention.ms", "-1".into(), ConfigType::Long),
        entry(
            "message.max.bytes",
            crate::storage::LogConfig::default()
                .max_batch_bytes
                .to_string(),
            ConfigType::Int,
        ),
    ]
}

/// Whether the request asks for config `name` (no key list: every config).
fn wanted(resource: &DescribeConfigsResource, name: &str) -> bool {
    match &resource.configuration_keys {
        Some(keys) if !keys.is_empty() => keys.iter().any(|k| k.as_str() == name),
        _ => true,
    }
}

fn config_of(entry: Entry, source: i8, version: i16) -> DescribeConfigsResourceResult {
    let source = if entry.default {
        DEFAULT_CONFIG
    } else {
        source
    };
    let config = DescribeConfigsResourceResult::default()
        .with_name(text(entry.name))
        .with_value(Some(text(&entry.value)))
        .with_read_only(entry.read_only)
        .with_config_source(source);
    // The codec refuses a field its version lacks: the type exists from version 3.
    match version >= 3 {
        true => config.with_config_type(entry.kind as i8),
        false => config,
    }
}
