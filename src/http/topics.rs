//! `/api/v1/topics`: list, create, describe (with per-partition statistics), alter and
//! delete topics. The config appears as the broker's own `TopicConfig`, so nothing is
//! renamed between the API, `topic.json` and the CLI.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiError;
use super::alter::AlterTopic;
use super::body::{Reply, json_body};
use crate::broker::{Broker, CleanupPolicy, NewTopic, TopicConfig, TopicSummary};
use crate::service::scope::Scope;

/// The body of a create request; absent fields take the broker's defaults.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTopic {
    name: String,
    partitions: Option<u32>,
    retention_ms: Option<u64>,
    retention_bytes: Option<u64>,
    segment_bytes: Option<u64>,
    /// `delete` (default) or `compact`.
    #[schema(value_type = Option<String>)]
    cleanup_policy: Option<CleanupPolicy>,
    replication_factor: Option<u32>,
}

/// A topic: name, partition count, config and, when described, its partitions.
#[derive(Debug, Serialize, ToSchema)]
pub struct Topic {
    name: String,
    partitions: u32,
    /// The stored configuration (`retention_ms`, `segment_bytes`, `cleanup_policy`, ...).
    #[schema(value_type = Object)]
    config: TopicConfig,
    /// Per-partition statistics (describe only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    partition_stats: Vec<PartitionStats>,
}

/// One partition's bounds and size.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartitionStats {
    partition: u32,
    log_start_offset: u64,
    high_watermark: u64,
    segment_count: usize,
    size_bytes: u64,
    /// Why the partition could not be opened, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    unavailable: Option<String>,
}

impl From<TopicSummary> for Topic {
    fn from(summary: TopicSummary) -> Topic {
        Topic {
            name: summary.name,
            partitions: summary.partitions,
            config: summary.config,
            partition_stats: Vec::new(),
        }
    }
}

/// Lists the topics the caller may see.
#[utoipa::path(get, path = "/api/v1/topics", tag = "topics",
    responses((status = 200, body = [Topic])))]
pub async fn list(
    State(broker): State<Arc<Broker>>,
    Extension(scope): Extension<Scope>,
) -> Result<Reply<Vec<Topic>>, ApiError> {
    let topics = broker
        .list_topics()?
        .into_iter()
        .filter(|t| scope.allows_topic(&t.name))
        .map(Topic::from)
        .collect();
    Ok(Reply(StatusCode::OK, topics))
}

/// Creates a topic.
#[utoipa::path(post, path = "/api/v1/topics", tag = "topics", request_body = CreateTopic,
    responses((status = 201, body = Topic), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn create(
    State(broker): State<Arc<Broker>>,
    Extension(scope): Extension<Scope>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Reply<Topic>, ApiError> {
    let request: CreateTopic = json_body(&headers, &body)?;
    scope.check_topic(&request.name)?;
    let created = broker
        .create_topic(NewTopic {
            name: request.name,
            partitions: request.partitions,
            retention_ms: request.retention_ms,
            retention_bytes: request.retention_bytes,
            segment_bytes: request.segment_bytes,
            cleanup_policy: request.cleanup_policy.unwrap_or_default(),
            replication_factor: request.replication_factor,
            ..NewTopic::default()
        })
        .await?;
    Ok(Reply(StatusCode::CREATED, created.into()))
}

/// Describes a topic with its partitions' bounds, segments and bytes.
#[utoipa::path(get, path = "/api/v1/topics/{topic}", tag = "topics",
    params(("topic" = String, Path)),
    responses((status = 200, body = Topic), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn describe(
    State(broker): State<Arc<Broker>>,
    Extension(scope): Extension<Scope>,
    Path(topic): Path<String>,
) -> Result<Reply<Topic>, ApiError> {
    scope.check_topic(&topic)?;
    let description = broker.describe_topic(&topic).await?;
    let mut unavailable = description.unavailable;
    let partition_stats = (0..)
        .zip(description.partitions)
        .map(|(partition, stats)| PartitionStats {
            partition,
            log_start_offset: stats.log_start_offset,
            high_watermark: stats.high_watermark,
            segment_count: stats.segment_count,
            size_bytes: stats.size_bytes,
            unavailable: unavailable.remove(&partition),
        })
        .collect();
    Ok(Reply(
        StatusCode::OK,
        Topic {
            partition_stats,
            ..description.topic.into()
        },
    ))
}

/// Changes a topic's config: a field left out is kept, `null` returns it to its default.
#[utoipa::path(patch, path = "/api/v1/topics/{topic}", tag = "topics",
    params(("topic" = String, Path)), request_body = AlterTopic,
    responses((status = 200, body = Topic), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn alter(
    State(broker): State<Arc<Broker>>,
    Extension(scope): Extension<Scope>,
    Path(topic): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Reply<Topic>, ApiError> {
    scope.check_topic(&topic)?;
    let request: AlterTopic = json_body(&headers, &body)?;
    let update = request.into_update()?;
    let altered = broker.update_topic_config(&topic, update).await?;
    Ok(Reply(StatusCode::OK, altered.into()))
}

/// Deletes a topic and its records.
#[utoipa::path(delete, path = "/api/v1/topics/{topic}", tag = "topics",
    params(("topic" = String, Path)),
    responses((status = 204), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn delete(
    State(broker): State<Arc<Broker>>,
    Extension(scope): Extension<Scope>,
    Path(topic): Path<String>,
) -> Result<StatusCode, ApiError> {
    scope.check_topic(&topic)?;
    broker.delete_topic(&topic).await?;
    Ok(StatusCode::NO_CONTENT)
}
