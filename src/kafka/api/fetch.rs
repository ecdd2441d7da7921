//! Fetch: reads every asked partition within the request's and each partition's byte
//! limits (the stored batches as they are, see `fetched_batches`: whole batches, the
//! first one even when it is larger than the limit, as Kafka does); when fewer than
//! `min_bytes` came back, waits (up to `max_wait_ms`) for any of them to grow and
//! reads again. Fetch sessions are not kept: every answer says
//! session 0, so clients send full requests.

use std::time::{Duration, Instant};

use futures_util::future::select_all;
use kafka_protocol::messages::fetch_request::FetchPartition;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse};

use crate::broker::{BrokerError, FetchRequest as BrokerFetch};
use crate::kafka::context::Context;
use crate::kafka::errors::code_of;
use crate::kafka::fetched_batches::record_set;
use crate::storage::{ReadError, ReadLimits};

/// Most record bytes one answer carries, whatever the client asks: the gRPC
/// listener's message limit.
pub const MAX_RESPONSE_BYTES: usize = 64 << 20;

/// Answers a Fetch request.
pub async fn handle(ctx: &Context, request: FetchRequest) -> FetchResponse {
    let max_wait = Duration::from_millis(u64::try_from(request.max_wait_ms).unwrap_or(0));
    let deadline = Instant::now() + max_wait;
    let min_bytes = usize::try_from(request.min_bytes).unwrap_or(0);
    let max_bytes = usize::try_from(request.max_bytes)
        .unwrap_or(0)
        .clamp(1, MAX_RESPONSE_BYTES);
    loop {
        let pass = read_all(ctx, &request, max_bytes).await;
        let remaining = deadline.saturating_duration_since(Instant::now());
        if pass.bytes >= min_bytes || pass.failed || remaining.is_zero() || pass.tails.is_empty() {
            return FetchResponse::default().with_responses(pass.topics);
        }
        wait_for_any(ctx, pass.tails, remaining).await;
    }
}

/// The result of one read of every asked partition.
struct Pass {
    topics: Vec<FetchableTopicResponse>,
    /// Record bytes returned.
    bytes: usize,
    /// Whether any partition failed (answered at once, as Kafka does).
    failed: bool,
    /// (topic, partition, high watermark) of each partition read without error.
    tails: Vec<(String, u32, u64)>,
}

async fn read_all(ctx: &Context, request: &FetchRequest, max_bytes: usize) -> Pass {
    let mut pass = Pass {
        topics: Vec::with_capacity(request.topics.len()),
        bytes: 0,
        failed: false,
        tails: Vec::new(),
    };
    for topic in &request.topics {
        let name = topic.topic.as_str();
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for asked in &topic.partitions {
            let budget = max_bytes.saturating_sub(pass.bytes);
            let data = read_one(ctx, name, asked, budget, &mut pass).await;
            partitions.push(data);
        }
        pass.topics.push(
            FetchableTopicResponse::default()
                .with_topic(topic.topic.clone())
                .with_partitions(partitions),
        );
    }
    pass
}

/// Reads one partition within `budget` bytes (none left: an empty answer).
async fn read_one(
    ctx: &Context,
    topic: &str,
    asked: &FetchPartition,
    budget: usize,
    pass: &mut Pass,
) -> PartitionData {
    let empty = PartitionData::default()
        .with_partition_index(asked.partition)
        .with_aborted_transactions(Some(Vec::new()))
        .with_records(Some(Default::default()));
    let Ok(partition) = u32::try_from(asked.partition) else {
        pass.failed = true;
        let error = kafka_protocol::ResponseError::UnknownTopicOrPartition;
        return empty.with_error_code(error.code());
    };
    let Ok(offset) = u64::try_from(asked.fetch_offset) else {
        pass.failed = true;
        return empty.with_error_code(kafka_protocol::ResponseError::OffsetOutOfRange.code());
    };
    if budget == 0 {
        return empty.with_high_watermark(-1).with_last_stable_offset(-1);
    }
    let max_bytes = usize::try_from(asked.partition_max_bytes)
        .unwrap_or(0)
        .max(1)
        .min(budget);
    let fetch = BrokerFetch {
        topic: topic.to_string(),
        partition,
        offset,
        limits: ReadLimits {
            // Kafka limits bytes only; the broker caps both at its own maximums.
            max_records: usize::MAX,
            max_bytes,
        },
        max_wait: Duration::ZERO,
    };
    let outcome = match ctx.broker.fetch_raw(fetch).await {
        Ok(outcome) => outcome,
        Err(err) => {
            pass.failed = true;
            return failed(empty, &err);
        }
    };
    let records = record_set(&outcome.chunks, outcome.bytes);
    pass.bytes += records.len();
    pass.tails
        .push((topic.to_string(), partition, outcome.high_watermark));
    let high_watermark = outcome.high_watermark as i64;
    empty
        .with_high_watermark(high_watermark)
        .with_last_stable_offset(high_watermark)
        .with_log_start_offset(outcome.log_start_offset as i64)
        .with_records(Some(records))
}

/// A failed partition, with the bounds an out-of-range error carries so the client
/// can reset.
fn failed(data: PartitionData, err: &BrokerError) -> PartitionData {
    let data = data.with_error_code(code_of(err));
    match err {
        BrokerError::Read { source, .. } => match source.as_ref() {
            ReadError::OutOfRange {
                log_start,
                high_watermark,
                ..
            } => data
                .with_high_watermark(*high_watermark as i64)
                .with_last_stable_offset(*high_watermark as i64)
                .with_log_start_offset(*log_start as i64),
            _ => data,
        },
        _ => data,
    }
}

/// Returns once any partition grows past the high watermark it had, or `wait` passed.
async fn wait_for_any(ctx: &Context, tails: Vec<(String, u32, u64)>, wait: Duration) {
    let waits = tails.into_iter().map(|(topic, partition, offset)| {
        Box::pin(ctx.broker.fetch(BrokerFetch {
            topic,
            partition,
            offset,
            limits: ReadLimits {
                max_records: 1,
                max_bytes: 1,
            },
            max_wait: wait,
        }))
    });
    let _ = select_all(waits).await;
}
