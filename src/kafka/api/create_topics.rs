//! CreateTopics: each topic through the broker's create, with the Kafka topic configs
//! that have an equivalent here (`retention.ms`, `retention.bytes`, `segment.bytes`,
//! `segment.ms`, `cleanup.policy`, `delete.retention.ms`,
//! `min.cleanable.dirty.ratio`, `message.timestamp.before.max.ms`,
//! `message.timestamp.after.max.ms`); any other config is INVALID_CONFIG. One node
//! holds every partition, so the replication factor must be 1 (or -1, the default).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use super::text;
use crate::broker::{CleanupPolicy, DirtyRatio, NewTopic};
use crate::kafka::context::Context;
use crate::kafka::errors::code_of;

/// Answers a CreateTopics request.
pub async fn handle(ctx: &Context, request: CreateTopicsRequest) -> CreateTopicsResponse {
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let result = CreatableTopicResult::default().with_name(topic.name.clone());
        results.push(match to_new_topic(&topic) {
            Err((error, why)) => result
                .with_error_code(error.code())
                .with_error_message(Some(text(&why))),
            Ok(new) => create(ctx, new, request.validate_only, result).await,
        });
    }
    CreateTopicsResponse::default().with_topics(results)
}

async fn create(
    ctx: &Context,
    new: NewTopic,
    validate_only: bool,
    result: CreatableTopicResult,
) -> CreatableTopicResult {
    if validate_only {
        let partitions = new.partitions.unwrap_or(1);
        return match new.resolve(ctx.broker.config().default_segment_bytes) {
            Ok(_) => result
                .with_num_partitions(partitions as i32)
                .with_replication_factor(1),
            Err(err) => result
                .with_error_code(code_of(&err))
                .with_error_message(Some(text(&err.to_string()))),
        };
    }
    match ctx.broker.create_topic(new).await {
        Ok(summary) => result
            .with_num_partitions(summary.partitions as i32)
            .with_replication_factor(1),
        Err(err) => result
            .with_error_code(code_of(&err))
            .with_error_message(Some(text(&err.to_string()))),
    }
}

type Refusal = (ResponseError, String);

fn to_new_topic(topic: &CreatableTopic) -> Result<NewTopic, Refusal> {
    if !matches!(topic.replication_factor, -1 | 1) {
        return Err((
            ResponseError::InvalidReplicationFactor,
            "this server keeps one copy of each partition: use replication factor 1".into(),
        ));
    }
    if !topic.assignments.is_empty() {
        return Err((
            ResponseError::InvalidReplicaAssignment,
            "manual replica assignment is not supported".into(),
        ));
    }
    let partitions = match topic.num_partitions {
        -1 => None,
        n if n > 0 => Some(n as u32),
        n => {
            return Err((
                ResponseError::InvalidPartitions,
                format!("{n} partitions: must be at least 1"),
            ));
        }
    };
    let mut new = NewTopic {
        name: topic.name.as_str().to_string(),
        partitions,
        ..NewTopic::default()
    };
    for config in &topic.configs {
        let value = config.value.as_ref().map(|v| v.as_str()).unwrap_or("");
        apply(&mut new, config.name.as_str(), value)
            .map_err(|why| (ResponseError::InvalidConfig, why))?;
    }
    Ok(new)
}

/// Applies one Kafka topic config to `new`.
fn apply(new: &mut NewTopic, name: &str, value: &str) -> Result<(), String> {
    let bad = || format!("invalid value {value:?} for {name}");
    // Kafka's -1: unlimited.
    let limit = || -> Result<Option<u64>, String> {
        match value.parse::<i64>().map_err(|_| bad())? {
            -1 => Ok(None),
            n => u64::try_from(n).map(Some).map_err(|_| bad()),
        }
    };
    let number = || value.parse::<u64>().map_err(|_| bad());
    match name {
        "retention.ms" => new.retention_ms = limit()?,
        "retention.bytes" => new.retention_bytes = limit()?,
        "segment.bytes" => new.segment_bytes = Some(number()?),
        "segment.ms" => new.segment_ms = Some(number()?),
        "delete.retention.ms" => new.delete_retention_ms = Some(number()?),
        "message.timestamp.before.max.ms" => {
            new.message_timestamp_before_max_ms = Some(number()?);
        }
        "message.timestamp.after.max.ms" => new.message_timestamp_after_max_ms = Some(number()?),
        "min.cleanable.dirty.ratio" => {
            let ratio: f64 = value.parse().map_err(|_| bad())?;
            new.min_cleanable_dirty_ratio = Some(DirtyRatio::new(ratio)?);
        }
        "cleanup.policy" => {
            new.cleanup_policy = match value {
                "delete" => CleanupPolicy::Delete,
                "compact" => CleanupPolicy::Compact,
                _ => return Err(format!("{bad}: delete or compact", bad = bad())),
            };
        }
        other => return Err(format!("topic config {other} is not supported")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_configs_map_onto_the_new_topic() {
        let mut new = NewTopic::default();
        apply(&mut new, "retention.ms", "-1").expect("unlimited");
        apply(&mut new, "cleanup.policy", "compact").expect("compact");
        apply(&mut new, "retention.bytes", "1000").expect("bytes");
        assert_eq!(new.retention_ms, None);
        assert_eq!(new.retention_bytes, Some(1000));
        assert_eq!(new.cleanup_policy, CleanupPolicy::Compact);
        assert!(apply(&mut new, "compression.type", "zstd").is_err());
        assert!(apply(&mut new, "segment.bytes", "-5").is_err());
    }
}
