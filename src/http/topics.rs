//! `/api/v1/topics`: list, create, describe and delete topics. The JSON shapes are the
//! broker's own `TopicSummary` (serialized) and `NewTopic` fields, so nothing is renamed.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::ApiError;
use super::body::{Reply, json_body};
use crate::broker::{Broker, CleanupPolicy, NewTopic, TopicSummary};

/// The body of a create request; absent fields take the broker's defaults.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTopic {
    name: String,
    partitions: Option<u32>,
    retention_ms: Option<u64>,
    retention_bytes: Option<u64>,
    segment_bytes: Option<u64>,
    replication_factor: Option<u32>,
}

/// `GET /api/v1/topics`
pub async fn list(State(broker): State<Arc<Broker>>) -> Result<Reply<Vec<TopicSummary>>, ApiError> {
    Ok(Reply(StatusCode::OK, broker.list_topics()?))
}

/// `POST /api/v1/topics`
pub async fn create(
    State(broker): State<Arc<Broker>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Reply<TopicSummary>, ApiError> {
    let request: CreateTopic = json_body(&headers, &body)?;
    let created = broker
        .create_topic(NewTopic {
            name: request.name,
            partitions: request.partitions,
            retention_ms: request.retention_ms,
            retention_bytes: request.retention_bytes,
            segment_bytes: request.segment_bytes,
            cleanup_policy: CleanupPolicy::default(),
            delete_retention_ms: None,
            min_cleanable_dirty_ratio: None,
            segment_ms: None,
            message_timestamp_before_max_ms: None,
            message_timestamp_after_max_ms: None,
            replication_factor: request.replication_factor,
        })
        .await?;
    Ok(Reply(StatusCode::CREATED, created))
}

/// `GET /api/v1/topics/{topic}`
pub async fn describe(
    State(broker): State<Arc<Broker>>,
    Path(topic): Path<String>,
) -> Result<Reply<TopicSummary>, ApiError> {
    let description = broker.describe_topic(&topic).await?;
    Ok(Reply(StatusCode::OK, description.topic))
}

/// `DELETE /api/v1/topics/{topic}`
pub async fn delete(
    State(broker): State<Arc<Broker>>,
    Path(topic): Path<String>,
) -> Result<StatusCode, ApiError> {
    broker.delete_topic(&topic).await?;
    Ok(StatusCode::NO_CONTENT)
}
