//! CreatePartitions: each topic grown through the broker's `add_partitions`, with
//! `validate_only` passed on. Replicas are placed by the server, so a request naming
//! its own assignment is INVALID_REPLICA_ASSIGNMENT; a topic named twice in one request
//! is INVALID_REQUEST for each mention, as Kafka answers.

use std::collections::HashMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::text;
use crate::kafka::context::Context;
use crate::kafka::errors::code_of;

/// Answers a CreatePartitions request.
pub async fn handle(ctx: &Context, request: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let mut mentions: HashMap<String, usize> = HashMap::new();
    for topic in &request.topics {
        *mentions.entry(topic.name.as_str().to_string()).or_default() += 1;
    }
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
        let refusal = if mentions[topic.name.as_str()] > 1 {
            Some((
                ResponseError::InvalidRequest,
                "the topic is named more than once in the request".to_string(),
            ))
        } else {
            refusal_of(&topic)
        };
        results.push(match refusal {
            Some((error, why)) => result
                .with_error_code(error.code())
                .with_error_message(Some(text(&why))),
            None => grow(ctx, &topic, request.validate_only, result).await,
        });
    }
    CreatePartitionsResponse::default().with_results(results)
}

/// Why `topic` is refused before reaching the broker, if it is.
fn refusal_of(topic: &CreatePartitionsTopic) -> Option<(ResponseError, String)> {
    // Null (the usual) or empty: the server places the new partitions.
    if topic.assignments.as_ref().is_some_and(|a| !a.is_empty()) {
        return Some((
            ResponseError::InvalidReplicaAssignment,
            "manual replica assignment is not supported: the server places replicas".into(),
        ));
    }
    if topic.count < 1 {
        return Some((
            ResponseError::InvalidPartitions,
            format!("{} partitions: must be at least 1", topic.count),
        ));
    }
    None
}

async fn grow(
    ctx: &Context,
    topic: &CreatePartitionsTopic,
    validate_only: bool,
    result: CreatePartitionsTopicResult,
) -> CreatePartitionsTopicResult {
    // `refusal_of` admitted only positive counts.
    let count = topic.count as u32;
    match ctx
        .broker
        .add_partitions(topic.name.as_str(), count, validate_only)
        .await
    {
        Ok(_) => result,
        Err(err) => result
            .with_error_code(code_of(&err))
            .with_error_message(Some(text(&err.to_string()))),
    }
}
