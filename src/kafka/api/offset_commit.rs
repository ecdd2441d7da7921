//! OffsetCommit: a simple consumer's commit (generation -1, no member id), stored as
//! the group's offsets through the broker, so `eventlog group describe` shows it. Group
//! membership is not served yet, so a commit naming a member or generation is refused
//! as Kafka refuses one from a member it does not know.

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
    let refusal = if !request.member_id.is_empty() {
        Some(ResponseError::UnknownMemberId.code())
    } else if request.generation_id_or_member_epoch != -1 {
        Some(ResponseError::IllegalGeneration.code())
    } else {
        None
    };
    let group = request.group_id.as_str();
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let codes = match refusal {
            Some(code) => vec![Some(code); topic.partitions.len()],
            None => commit(ctx, group, &topic).await,
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

/// Commits one topic's partitions (all or nothing, as the broker stores them); the
/// error code of each partition, in request order.
async fn commit(ctx: &Context, group: &str, topic: &OffsetCommitRequestTopic) -> Vec<Option<i16>> {
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
        .commit_offsets(group, topic.name.as_str(), entries)
        .await
    {
        let failed = code_of(&err);
        for code in codes.iter_mut().filter(|c| c.is_none()) {
            *code = Some(failed);
        }
    }
    codes
}
