//! OffsetCommit, stored as the group's offsets through the broker, so `eventlog group
//! describe` shows them. A simple consumer's commit (generation -1, no member id) is
//! taken while the group has no live members; a member's commit (its member id and
//! generation) is fenced by the coordinator: only the member owning a partition may
//! commit it, with a generation no older than its ownership (UNKNOWN_MEMBER_ID,
//! ILLEGAL_GENERATION otherwise).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_commit_request::OffsetCommitRequestTopic;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use crate::broker::OffsetCommit;
use crate::kafka::context::Context;
use crate::kafka::errors::code_of;

/// Answers an OffsetCommit request.
pub async fn handle(ctx: &Context, request: OffsetCommitRequest) -> OffsetCommitResponse {
    let (refusal, fence) = fence_of(&request);
    let group = request.group_id.as_str();
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let codes = match refusal {
            Some(code) => vec![Some(code); topic.partitions.len()],
            None => commit(ctx, group, &topic, fence.clone()).await,
        };
        let partitions = topic
            .partitions
            .iter()
            .zip(codes)
            .map(|(p, code)| {
                OffsetCommitResponsePartition::default()
                    .with_partition_index(p.partition_index)
                    .with_error_code(code.unwrap_or(0))
            })
            .collect();
        topics.push(
            OffsetCommitResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    OffsetCommitResponse::default().with_topics(topics)
}

/// The membership fence of a commit (member id and generation), or the error code
/// refusing it: a member id needs a generation, a generation a member id.
fn fence_of(request: &OffsetCommitRequest) -> (Option<i16>, Option<(String, u64)>) {
    let member = request.member_id.as_str();
    let generation = request.generation_id_or_member_epoch;
    match (member.is_empty(), u64::try_from(generation)) {
        (true, _) if generation == -1 => (None, None),
        (true, _) => (Some(ResponseError::UnknownMemberId.code()), None),
        (false, Ok(generation)) => (None, Some((member.to_string(), generation))),
        (false, Err(_)) => (Some(ResponseError::IllegalGeneration.code()), None),
    }
}

/// Commits one topic's partitions (all or nothing, as the broker stores them); the
/// error code of each partition, in request order.
async fn commit(
    ctx: &Context,
    group: &str,
    topic: &OffsetCommitRequestTopic,
    fence: Option<(String, u64)>,
) -> Vec<Option<i16>> {
    let mut codes = vec![None; topic.partitions.len()];
    let mut entries = Vec::with_capacity(topic.partitions.len());
    for (code, p) in codes.iter_mut().zip(&topic.partitions) {
        match (
            u32::try_from(p.partition_index),
            u64::try_from(p.committed_offset),
        ) {
            (Ok(partition), Ok(next_offset)) => entries.push(OffsetCommit {
                partition,
                next_offset,
                metadata: p
                    .committed_metadata
                    .as_ref()
                    .map(|m| m.as_str().to_string())
                    .unwrap_or_default(),
            }),
            (Err(_), _) => *code = Some(ResponseError::UnknownTopicOrPartition.code()),
            (_, Err(_)) => *code = Some(ResponseError::OffsetOutOfRange.code()),
        }
    }
    if entries.is_empty() {
        return codes;
    }
    if let Err(err) = ctx
        .broker
        .commit_fenced(group, topic.name.as_str(), entries, fence)
        .await
    {
        let failed = code_of(&err);
        for code in codes.iter_mut().filter(|c| c.is_none()) {
            *code = Some(failed);
        }
    }
    codes
}
