//! Produce: each partition's single record batch, decoded and appended through the
//! broker (as an idempotent producer's batch when it carries a producer id, so retries
//! are recognised and gaps refused). acks=all (-1) is answered once a majority of the
//! partition's replicas hold the batch, acks=1 once its leader does (the two are the
//! same on one node: once the append is durable under the fsync policy); acks=0 waits
//! as acks=1 but gets no answer, and its connection is closed if the append failed.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_request::PartitionProduceData;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use super::text;
use crate::broker::Acks;
use crate::broker::group_store::now_ms;
use crate::kafka::context::Context;
use crate::kafka::errors::code_of;
use crate::kafka::records::decode_produced;

/// Answers a Produce request; `Ok(None)` for acks=0 (the records are still appended).
/// A failed acks=0 produce is `Err`, to close the connection: as with Kafka, that is the
/// only way such a producer learns of it.
pub async fn handle(
    ctx: &Context,
    request: ProduceRequest,
) -> Result<Option<ProduceResponse>, String> {
    let refusal = if request.transactional_id.is_some() {
        Some((
            ResponseError::InvalidRequest,
            "transactions are not supported",
        ))
    } else if !matches!(request.acks, -1..=1) {
        Some((
            ResponseError::InvalidRequiredAcks,
            "acks must be -1, 0 or 1",
        ))
    } else {
        None
    };
    let mut topics = Vec::with_capacity(request.topic_data.len());
    for topic in request.topic_data {
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for data in topic.partition_data {
            partitions.push(match refusal {
                Some((error, why)) => failed(data.index, error.code(), why.to_string()),
                None => append(ctx, topic.name.as_str(), data, acks_of(request.acks)).await,
            });
        }
        topics.push(
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_partition_responses(partitions),
        );
    }
    if request.acks != 0 {
        return Ok(Some(ProduceResponse::default().with_responses(topics)));
    }
    let failed = topics.iter().find_map(|t| {
        t.partition_responses
            .iter()
            .find(|p| p.error_code != 0)
            .map(|p| (t.name.as_str().to_string(), p))
    });
    match failed {
        Some((topic, partition)) => Err(format!(
            "acks=0 produce to {topic}/{} failed with error {}: {}",
            partition.index,
            partition.error_code,
            partition.error_message.as_deref().unwrap_or("")
        )),
        None => Ok(None),
    }
}

/// The acknowledgement level of a Kafka `acks` value (-1, 0 or 1, checked before).
fn acks_of(acks: i16) -> Acks {
    match acks {
        -1 => Acks::All,
        _ => Acks::Leader,
    }
}

/// Appends one partition's batch.
async fn append(
    ctx: &Context,
    topic: &str,
    data: PartitionProduceData,
    acks: Acks,
) -> PartitionProduceResponse {
    let Ok(partition) = u32::try_from(data.index) else {
        let code = ResponseError::UnknownTopicOrPartition.code();
        return failed(data.index, code, "negative partition".into());
    };
    let Some(bytes) = data.records else {
        let code = ResponseError::InvalidRecord.code();
        return failed(data.index, code, "no records".into());
    };
    let batch = match decode_produced(&bytes, now_ms()) {
        Ok(batch) => batch,
        Err(why) => return failed(data.index, ResponseError::InvalidRecord.code(), why),
    };
    let appended = match batch.producer {
        Some(producer) => {
            ctx.broker
                .produce_idempotent(topic, partition, batch.records, producer, None, acks)
                .await
        }
        None => ctx
            .broker
            .produce(topic, Some(partition), batch.records, None, acks)
            .await
            .and_then(|mut appends| {
                appends.pop().ok_or_else(|| {
                    crate::broker::BrokerError::Internal("produce appended nothing".into())
                })
            }),
    };
    match appended {
        Ok(append) => PartitionProduceResponse::default()
            .with_index(data.index)
            .with_base_offset(append.info.base_offset as i64),
        Err(err) => failed(data.index, code_of(&err), err.to_string()),
    }
}

fn failed(index: i32, code: i16, why: String) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(code)
        .with_base_offset(-1)
        .with_error_message(Some(text(&why)))
}
