//! `/api/v1/groups`: list the consumer groups, describe one (committed offsets and lag
//! per partition), read its position in one topic, commit, reset (with a dry run) and
//! delete (with a dry run). Each handler makes the one broker call gRPC makes; in a
//! cluster, on a node that does not coordinate groups, the gRPC call itself goes to the
//! coordinator (`groups_remote`).

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiError;
use super::body::{Reply, json_body};
use super::groups_remote::{self, Caller, coordinator};
use super::query;
use crate::broker::membership::{GroupMembership, MemberSummary, TopicPartition};
use crate::broker::{Broker, OffsetCommit, PartitionLag, ResetResult, ResetTo};
use crate::service::scope::Scope;

/// A group in the list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Group {
    group: String,
    topics: Vec<String>,
}

/// A group's position in one partition, with the partition's bounds and the lag.
#[derive(Debug, Serialize, ToSchema)]
pub struct Position {
    pub(super) topic: String,
    pub(super) partition: u32,
    /// The committed next offset; absent when the group never committed here.
    pub(super) committed_offset: Option<u64>,
    pub(super) metadata: Option<String>,
    pub(super) commit_time_ms: Option<i64>,
    pub(super) log_start_offset: u64,
    pub(super) high_watermark: u64,
    /// Records the group has yet to read.
    pub(super) lag: u64,
}

impl From<PartitionLag> for Position {
    fn from(p: PartitionLag) -> Position {
        let lag = p.lag();
        Position {
            topic: p.topic,
            partition: p.partition,
            committed_offset: p.committed.as_ref().map(|c| c.next_offset),
            metadata: p.committed.as_ref().map(|c| c.metadata.clone()),
            commit_time_ms: p.committed.as_ref().map(|c| c.commit_time_ms),
            log_start_offset: p.log_start,
            high_watermark: p.high_watermark,
            lag,
        }
    }
}

/// A group: its members and their partitions (while it has members) and its
/// positions with lag.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupDescription {
    /// The membership generation (0 without members).
    pub(super) generation: u64,
    /// The assignment strategy (empty without members).
    pub(super) strategy: String,
    pub(super) members: Vec<Member>,
    pub(super) partitions: Vec<Position>,
}

/// A member of a group.
#[derive(Debug, Serialize, ToSchema)]
pub struct Member {
    pub(super) member_id: String,
    pub(super) instance_id: Option<String>,
    /// Where it connected from.
    pub(super) client: String,
    pub(super) joined_at_ms: i64,
    pub(super) connected: bool,
    /// Partitions it reads now.
    pub(super) assigned: Vec<Assigned>,
    /// Partitions it is releasing.
    pub(super) revoking: Vec<Assigned>,
}

/// A partition of a topic.
#[derive(Debug, Serialize, ToSchema)]
pub struct Assigned {
    pub(super) topic: String,
    pub(super) partition: u32,
}

impl Member {
    /// The member as the caller may see it: partitions of topics outside its scope
    /// are left out, as on gRPC.
    fn visible(m: MemberSummary, scope: &Scope) -> Member {
        let keep = |set: std::collections::BTreeSet<TopicPartition>| {
            set.into_iter()
                .filter(|tp| scope.allows_topic(&tp.topic))
                .map(|tp| Assigned {
                    topic: tp.topic,
                    partition: tp.partition,
                })
                .collect()
        };
        Member {
            member_id: m.member_id,
            instance_id: m.instance_id,
            client: m.client,
            joined_at_ms: m.joined_at_ms,
            connected: m.connected,
            assigned: keep(m.assigned),
            revoking: keep(m.revoking),
        }
    }
}

/// The body of a commit.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommitBody {
    offsets: Vec<CommitEntry>,
}

/// One partition's new position.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommitEntry {
    partition: u32,
    /// One past the last record processed.
    next_offset: u64,
    #[serde(default)]
    metadata: String,
}

/// The body of a reset.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetBody {
    /// `earliest`, `latest`, `offset` (with `offset`) or `timestamp` (with `timestamp_ms`).
    to: String,
    offset: Option<u64>,
    timestamp_ms: Option<i64>,
    /// One partition; default every partition of the topic.
    partition: Option<u32>,
    /// Compute and report the new positions without storing them.
    #[serde(default)]
    dry_run: bool,
}

/// A partition's position before and after a reset.
#[derive(Debug, Serialize, ToSchema)]
pub struct Reset {
    pub(super) partition: u32,
    pub(super) previous: Option<u64>,
    pub(super) next_offset: u64,
}

impl From<ResetResult> for Reset {
    fn from(r: ResetResult) -> Reset {
        Reset {
            partition: r.partition,
            previous: r.previous,
            next_offset: r.next_offset,
        }
    }
}

/// Lists the groups with commits, and the topics they cover.
#[utoipa::path(get, path = "/api/v1/groups", tag = "groups",
    responses((status = 200, body = [Group])))]
pub async fn list(
    State(broker): State<Arc<Broker>>,
    Extension(scope): Extension<Scope>,
) -> Result<Reply<Vec<Group>>, ApiError> {
    let groups = broker
        .list_groups()?
        .into_iter()
        .filter(|g| scope.allows_group(&g.group))
        .map(|g| Group {
            group: g.group,
            topics: g.topics,
        })
        .collect();
    Ok(Reply(StatusCode::OK, groups))
}

/// The group's members and every partition it committed for (or its members read),
/// with lag.
#[utoipa::path(get, path = "/api/v1/groups/{group}", tag = "groups",
    params(("group" = String, Path)),
    responses((status = 200, body = GroupDescription), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn describe(
    State(broker): State<Arc<Broker>>,
    Extension(scope): Extension<Scope>,
    Extension(caller): Extension<Caller>,
    Path(group): Path<String>,
) -> Result<Reply<GroupDescription>, ApiError> {
    scope.check_group(&group)?;
    if let Some(channel) = coordinator(&broker)? {
        let description = groups_remote::describe(channel, &caller, &scope, &group).await?;
        return Ok(Reply(StatusCode::OK, description));
    }
    let (membership, positions) = broker.describe_group_members(&group).await?;
    let partitions = positions
        .into_iter()
        .filter(|p| scope.allows_topic(&p.topic))
        .map(Position::from)
        .collect();
    let (generation, strategy, members) = match membership {
        None => (0, String::new(), Vec::new()),
        Some(GroupMembership {
            generation,
            strategy,
            members,
            ..
        }) => (
            generation,
            strategy.name().to_string(),
            members
                .into_iter()
                .map(|m| Member::visible(m, &scope))
                .collect(),
        ),
    };
    Ok(Reply(
        StatusCode::OK,
        GroupDescription {
            generation,
            strategy,
            members,
            partitions,
        },
    ))
}

/// The group's position in every partition of a topic, committed or not.
#[utoipa::path(get, path = "/api/v1/groups/{group}/topics/{topic}", tag = "groups",
    params(("group" = String, Path), ("topic" = String, Path)),
    responses((status = 200, body = [Position]), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn positions(
    State(broker): State<Arc<Broker>>,
    Extension(scope): Extension<Scope>,
    Extension(caller): Extension<Caller>,
    Path((group, topic)): Path<(String, String)>,
) -> Result<Reply<Vec<Position>>, ApiError> {
    scope.check_group(&group)?;
    scope.check_topic(&topic)?;
    if let Some(channel) = coordinator(&broker)? {
        let positions = groups_remote::positions(channel, &caller, &group, &topic).await?;
        return Ok(Reply(StatusCode::OK, positions));
    }
    let positions = broker.committed_offsets(&group, &topic).await?;
    Ok(Reply(
        StatusCode::OK,
        positions.into_iter().map(Position::from).collect(),
    ))
}

/// Stores the group's next offsets in partitions of a topic, all or nothing.
#[utoipa::path(post, path = "/api/v1/groups/{group}/topics/{topic}/offsets", tag = "groups",
    params(("group" = String, Path), ("topic" = String, Path)), request_body = CommitBody,
    responses((status = 204), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn commit(
    State(broker): State<Arc<Broker>>,
    Extension(scope): Extension<Scope>,
    Extension(caller): Extension<Caller>,
    Path((group, topic)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    scope.check_group(&group)?;
    scope.check_topic(&topic)?;
    let request: CommitBody = json_body(&headers, &body)?;
    let entries = request
        .offsets
        .into_iter()
        .map(|e| OffsetCommit {
            partition: e.partition,
            next_offset: e.next_offset,
            metadata: e.metadata,
        })
        .collect();
    match coordinator(&broker)? {
        Some(channel) => groups_remote::commit(channel, &caller, &group, &topic, entries).await?,
        None => {
            broker.commit_offsets(&group, &topic, entries).await?;
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Moves the group in one or every partition of a topic; a dry run stores nothing.
#[utoipa::path(post, path = "/api/v1/groups/{group}/topics/{topic}/reset", tag = "groups",
    params(("group" = String, Path), ("topic" = String, Path)), request_body = ResetBody,
    responses((status = 200, body = [Reset]), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn reset(
    State(broker): State<Arc<Broker>>,
    Extension(scope): Extension<Scope>,
    Extension(caller): Extension<Caller>,
    Path((group, topic)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Reply<Vec<Reset>>, ApiError> {
    scope.check_group(&group)?;
    scope.check_topic(&topic)?;
    let request: ResetBody = json_body(&headers, &body)?;
    let to = reset_to(&request)?;
    if let Some(channel) = coordinator(&broker)? {
        let names = (group.as_str(), topic.as_str());
        let (partition, dry_run) = (request.partition, request.dry_run);
        let results = groups_remote::reset(channel, &caller, names, partition, to, dry_run).await?;
        return Ok(Reply(StatusCode::OK, results));
    }
    let results = broker
        .reset_group_offsets(&group, &topic, request.partition, to, request.dry_run)
        .await?;
    Ok(Reply(
        StatusCode::OK,
        results.into_iter().map(Reset::from).collect(),
    ))
}

fn reset_to(request: &ResetBody) -> Result<ResetTo, ApiError> {
    match (request.to.as_str(), request.offset, request.timestamp_ms) {
        ("earliest", None, None) => Ok(ResetTo::Earliest),
        ("latest", None, None) => Ok(ResetTo::Latest),
        ("offset", Some(offset), None) => Ok(ResetTo::Offset(offset)),
        ("timestamp", None, Some(ts)) => Ok(ResetTo::Timestamp(ts)),
        (to, _, _) => Err(ApiError::invalid(format!(
            "to {to:?}: expected earliest, latest, offset with \"offset\", or timestamp with \"timestamp_ms\" (and nothing else)"
        ))),
    }
}

/// Removes every commit of the group; `?dry_run=true` only reports what would go.
#[utoipa::path(delete, path = "/api/v1/groups/{group}", tag = "groups",
    params(("group" = String, Path), ("dry_run" = Option<bool>, Query)),
    responses((status = 200, body = [Position]), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn delete(
    State(broker): State<Arc<Broker>>,
    Extension(scope): Extension<Scope>,
    Extension(caller): Extension<Caller>,
    Path(group): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Reply<Vec<Position>>, ApiError> {
    scope.check_group(&group)?;
    let mut dry_run = false;
    for (name, value) in query::pairs(raw.as_deref()) {
        match name.as_str() {
            "dry_run" => dry_run = query::flag(&name, &value)?,
            other => return Err(query::unknown(other)),
        }
    }
    if let Some(channel) = coordinator(&broker)? {
        let removed = groups_remote::delete(channel, &caller, &scope, &group, dry_run).await?;
        return Ok(Reply(StatusCode::OK, removed));
    }
    let removed = broker.delete_group(&group, dry_run).await?;
    Ok(Reply(
        StatusCode::OK,
        removed.into_iter().map(Position::from).collect(),
    ))
}
