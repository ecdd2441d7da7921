//! ListOffsets: the earliest (-2) or latest (-1) offset of a partition, or the first
//! offset whose record's timestamp is at or after a given time (with that record's
//! timestamp; -1 and -1 when there is none, as Kafka answers).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_offsets_request::ListOffsetsPartition;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use crate::broker::FetchRequest;
use crate::kafka::context::Context;
use crate::kafka::errors::code_of;
use crate::storage::ReadLimits;

/// Kafka's timestamp asking for the latest offset.
const LATEST: i64 = -1;
/// Kafka's timestamp asking for the earliest offset.
const EARLIEST: i64 = -2;

/// Answers a ListOffsets request.
pub async fn handle(ctx: &Context, request: ListOffsetsRequest) -> ListOffsetsResponse {
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for asked in &topic.partitions {
            partitions.push(lookup(ctx, topic.name.as_str(), asked).await);
        }
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    ListOffsetsResponse::default().with_topics(topics)
}

async fn lookup(
    ctx: &Context,
    topic: &str,
    asked: &ListOffsetsPartition,
) -> ListOffsetsPartitionResponse {
    let answer = ListOffsetsPartitionResponse::default()
        .with_partition_index(asked.partition_index)
        .with_timestamp(-1)
        .with_offset(-1);
    let Ok(partition) = u32::try_from(asked.partition_index) else {
        return answer.with_error_code(ResponseError::UnknownTopicOrPartition.code());
    };
    if asked.timestamp < EARLIEST {
        // Other special timestamps (the largest timestamp, tiered storage) are not kept.
        return answer.with_error_code(ResponseError::UnsupportedVersion.code());
    }
    let by_time = (asked.timestamp >= 0).then_some(asked.timestamp);
    let offsets = match ctx
        .broker
        .list_offsets(topic, Some(partition), by_time)
        .await
    {
        Ok(mut offsets) => match offsets.pop() {
            Some(offsets) => offsets,
            None => return answer.with_error_code(ResponseError::UnknownServerError.code()),
        },
        Err(err) => return answer.with_error_code(code_of(&err)),
    };
    match asked.timestamp {
        LATEST => answer.with_offset(offsets.latest as i64),
        EARLIEST => answer.with_offset(offsets.earliest as i64),
        _ => match offsets.for_timestamp {
            Some(offset) => {
                let timestamp = record_timestamp(ctx, topic, partition, offset).await;
                answer
                    .with_offset(offset as i64)
                    .with_timestamp(timestamp.unwrap_or(asked.timestamp))
            }
            None => answer,
        },
    }
}

/// The timestamp of the record at `offset` (Kafka returns it with the offset).
async fn record_timestamp(ctx: &Context, topic: &str, partition: u32, offset: u64) -> Option<i64> {
    let read = ctx
        .broker
        .fetch(FetchRequest {
            topic: topic.to_string(),
            partition,
            offset,
            limits: ReadLimits {
                max_records: 1,
                max_bytes: 1,
            },
            max_wait: std::time::Duration::ZERO,
        })
        .await
        .ok()?;
    read.records.first().map(|r| r.timestamp_ms)
}
