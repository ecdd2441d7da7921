//! Group calls that arrive on a node that does not coordinate consumer groups. In a
//! cluster one node, the coordinator (the metadata group's leader), holds the groups'
//! members and positions; a group call anywhere else goes to it as the gRPC call the
//! route maps to (`service::group_forward`, which gRPC clients' calls take too), with
//! the caller's token, and its answer comes back in the HTTP API's shape. The list of
//! groups is served on every node from its mirror of the positions.

use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::transport::Channel;

use super::ApiError;
use super::groups::{Assigned, GroupDescription, Member, Position, Reset};
use crate::broker::{Broker, OffsetCommit, ResetTo};
use crate::proto::v1 as pb;
use crate::service::group_forward::{self, Route};
use crate::service::scope::Scope;

/// Who called, as the coordinator must see it: the caller's token, if any.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    metadata: MetadataMap,
}

impl Caller {
    /// A caller presenting `token` (none when the API needs none).
    pub fn new(token: Option<&str>) -> Caller {
        let mut metadata = MetadataMap::new();
        if let Some(value) = token.and_then(|t| MetadataValue::try_from(format!("Bearer {t}")).ok())
        {
            metadata.insert("authorization", value);
        }
        Caller { metadata }
    }
}

/// The coordinator's channel when another node coordinates groups; `None` when this
/// node does (or runs alone).
pub fn coordinator(broker: &Broker) -> Result<Option<Channel>, ApiError> {
    match group_forward::route(broker, &MetadataMap::new())? {
        Route::Here => Ok(None),
        Route::Coordinator(channel) => Ok(Some(channel)),
    }
}

/// The HTTP client is not a group member: the coordinator needs no address for it.
const CLIENT: &str = "";

/// `GET /groups/{group}` on the coordinator.
pub async fn describe(
    channel: Channel,
    caller: &Caller,
    scope: &Scope,
    group: &str,
) -> Result<GroupDescription, ApiError> {
    let request = pb::DescribeGroupRequest {
        group: group.to_string(),
    };
    let reply = group_forward::describe_group(channel, &caller.metadata, CLIENT, request)
        .await?
        .into_inner();
    Ok(GroupDescription {
        generation: reply.generation,
        strategy: reply.strategy,
        members: reply
            .members
            .into_iter()
            .map(|m| member(m, scope))
            .collect(),
        partitions: positions_in(reply.partitions, scope),
    })
}

/// `GET /groups/{group}/topics/{topic}` on the coordinator.
pub async fn positions(
    channel: Channel,
    caller: &Caller,
    group: &str,
    topic: &str,
) -> Result<Vec<Position>, ApiError> {
    let request = pb::GetCommittedOffsetsRequest {
        group: group.to_string(),
        topic: topic.to_string(),
    };
    let reply = group_forward::get_committed_offsets(channel, &caller.metadata, CLIENT, request)
        .await?
        .into_inner();
    Ok(reply.partitions.into_iter().map(position).collect())
}

/// `POST /groups/{group}/topics/{topic}/offsets` on the coordinator.
pub async fn commit(
    channel: Channel,
    caller: &Caller,
    group: &str,
    topic: &str,
    entries: Vec<OffsetCommit>,
) -> Result<(), ApiError> {
    let request = pb::CommitOffsetsRequest {
        group: group.to_string(),
        topic: topic.to_string(),
        offsets: entries
            .into_iter()
            .map(|e| pb::OffsetCommit {
                partition: e.partition,
                next_offset: e.next_offset,
                metadata: e.metadata,
            })
            .collect(),
        ..Default::default()
    };
    group_forward::commit_offsets(channel, &caller.metadata, CLIENT, request).await?;
    Ok(())
}

/// `POST /groups/{group}/topics/{topic}/reset` on the coordinator.
pub async fn reset(
    channel: Channel,
    caller: &Caller,
    (group, topic): (&str, &str),
    partition: Option<u32>,
    to: ResetTo,
    dry_run: bool,
) -> Result<Vec<Reset>, ApiError> {
    use pb::reset_group_offsets_request::To;
    let to = match to {
        ResetTo::Earliest => To::Position(pb::StartPosition::Earliest.into()),
        ResetTo::Latest => To::Position(pb::StartPosition::Latest.into()),
        ResetTo::Offset(offset) => To::Offset(offset),
        ResetTo::Timestamp(ms) => To::TimestampMs(ms),
    };
    let request = pb::ResetGroupOffsetsRequest {
        group: group.to_string(),
        topic: topic.to_string(),
        partition,
        to: Some(to),
        dry_run,
    };
    let reply = group_forward::reset_group_offsets(channel, &caller.metadata, CLIENT, request)
        .await?
        .into_inner();
    Ok(reply
        .partitions
        .into_iter()
        .map(|p| Reset {
            partition: p.partition,
            previous: p.previous_next_offset,
            next_offset: p.next_offset,
        })
        .collect())
}

/// `DELETE /groups/{group}` on the coordinator.
pub async fn delete(
    channel: Channel,
    caller: &Caller,
    scope: &Scope,
    group: &str,
    dry_run: bool,
) -> Result<Vec<Position>, ApiError> {
    let request = pb::DeleteGroupRequest {
        group: group.to_string(),
        dry_run,
    };
    let reply = group_forward::delete_group(channel, &caller.metadata, CLIENT, request)
        .await?
        .into_inner();
    Ok(positions_in(reply.partitions, scope))
}

/// The positions of topics the caller may name.
fn positions_in(partitions: Vec<pb::GroupPartitionOffset>, scope: &Scope) -> Vec<Position> {
    partitions
        .into_iter()
        .filter(|p| scope.allows_topic(&p.topic))
        .map(position)
        .collect()
}

fn position(p: pb::GroupPartitionOffset) -> Position {
    let committed = p.next_offset.is_some();
    Position {
        topic: p.topic,
        partition: p.partition,
        committed_offset: p.next_offset,
        metadata: committed.then_some(p.metadata),
        commit_time_ms: committed.then_some(p.commit_time_ms),
        log_start_offset: p.log_start_offset,
        high_watermark: p.high_watermark,
        lag: p.lag,
    }
}

/// A member as the caller may see it: partitions of topics outside its scope are
/// left out, as on this node.
fn member(m: pb::GroupMemberDescription, scope: &Scope) -> Member {
    let keep = |sets: Vec<pb::TopicPartitions>| {
        sets.into_iter()
            .filter(|set| scope.allows_topic(&set.topic))
            .flat_map(|set| {
                let topic = set.topic;
                set.partitions.into_iter().map(move |partition| Assigned {
                    topic: topic.clone(),
                    partition,
                })
            })
            .collect()
    };
    Member {
        member_id: m.member_id,
        instance_id: m.member_instance_id,
        client: m.client_address,
        joined_at_ms: m.joined_at_ms,
        connected: m.connected,
        assigned: keep(m.assigned),
        revoking: keep(m.revoking),
    }
}
