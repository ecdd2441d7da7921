//! DeleteTopics: each named topic through the broker's delete. Topics here have no
//! ids, so a deletion by id (version 6) is UNKNOWN_TOPIC_ID.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};

use super::text;
use crate::kafka::context::Context;
use crate::kafka::errors::code_of;

/// Answers a DeleteTopics request.
pub async fn handle(
    ctx: &Context,
    request: DeleteTopicsRequest,
    version: i16,
) -> DeleteTopicsResponse {
    let names: Vec<Option<TopicName>> = if version >= 6 {
        request.topics.into_iter().map(|t| t.name).collect()
    } else {
        request.topic_names.into_iter().map(Some).collect()
    };
    let mut results = Vec::with_capacity(names.len());
    for name in names {
        let result = DeletableTopicResult::default().with_name(name.clone());
        let Some(name) = name else {
            results.push(result.with_error_code(ResponseError::UnknownTopicId.code()));
            continue;
        };
        results.push(match ctx.broker.delete_topic(name.as_str()).await {
            Ok(()) => result,
            Err(err) => result
                .with_error_code(code_of(&err))
                .with_error_message(Some(text(&err.to_string()))),
        });
    }
    DeleteTopicsResponse::default().with_responses(results)
}
