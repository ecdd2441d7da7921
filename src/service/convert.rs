//! Conversions between the wire types of `eventlog.v1` and the broker's domain types.
//! Requests become domain values with `TryFrom` (a bad field is an [`InvalidField`]);
//! replies are built with `From`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::group_convert::{GroupStart, check_no_group_fields, group_start};
use crate::broker::{
    Acks, CleanupPolicy, DirtyRatio, FetchRequest, NewTopic, PartitionAppend, PartitionOffsets,
    StartAt, TopicConfig, TopicDescription, TopicSummary,
};
use crate::proto::v1 as pb;
use crate::storage::{Header, LogStats, ReadLimits, ReadOutcome, Record, StoredRecord};

/// Records per fetch when the request leaves `max_records` at 0.
pub const DEFAULT_FETCH_RECORDS: usize = 1000;
/// Bytes per fetch when the request leaves `max_bytes` at 0.
pub const DEFAULT_FETCH_BYTES: usize = 1 << 20;
/// Records per subscription message when the request leaves it at 0.
pub const DEFAULT_SUBSCRIBE_RECORDS: usize = 500;
/// Most records per subscription message.
pub const MAX_SUBSCRIBE_RECORDS: usize = 5000;
/// Bytes per subscription message (beyond one oversized record). Small, so that HTTP/2
/// flow control, not server memory, paces a slow reader.
pub const SUBSCRIBE_CHUNK_BYTES: usize = 256 << 10;

/// A request field whose value cannot be accepted.
#[derive(Debug, thiserror::Error)]
#[error("invalid {field}: {reason}")]
pub struct InvalidField {
    /// The field, as named in the .proto.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

/// Milliseconds since the Unix epoch by the server's clock.
pub fn now_ms() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// A produced record, stamped with `now_ms` when it carries no timestamp.
pub fn record_from_wire(record: pb::Record, now_ms: i64) -> Record {
    Record {
        key: record.key,
        value: record.value,
        headers: record
            .headers
            .into_iter()
            .map(|h| Header {
                key: h.key,
                value: h.value,
            })
            .collect(),
        timestamp_ms: record.timestamp_ms.unwrap_or(now_ms),
    }
}

/// A stored record on the wire.
pub fn stored_to_wire(partition: u32, record: StoredRecord) -> pb::StoredRecord {
    pb::StoredRecord {
        partition,
        offset: record.offset,
        timestamp_ms: record.timestamp_ms,
        key: record.key,
        value: record.value,
        headers: record
            .headers
            .into_iter()
            .map(|h| pb::Header {
                key: h.key,
                value: h.value,
            })
            .collect(),
    }
}

impl From<PartitionAppend> for pb::PartitionAppend {
    fn from(append: PartitionAppend) -> Self {
        pb::PartitionAppend {
            partition: append.partition,
            base_offset: append.info.base_offset,
            last_offset: append.info.last_offset,
            timestamp_ms: append.info.max_timestamp_ms,
            duplicate: append.info.duplicate,
        }
    }
}

impl From<pb::FetchRequest> for FetchRequest {
    fn from(request: pb::FetchRequest) -> Self {
        let or_default = |value: u32, default: usize| match value {
            0 => default,
            n => n as usize,
        };
        FetchRequest {
            topic: request.topic,
            partition: request.partition,
            offset: request.offset,
            limits: ReadLimits {
                max_records: or_default(request.max_records, DEFAULT_FETCH_RECORDS),
                max_bytes: or_default(request.max_bytes, DEFAULT_FETCH_BYTES),
            },
            max_wait: Duration::from_millis(u64::from(request.max_wait_ms)),
        }
    }
}

/// A fetch reply for `partition`.
pub fn fetch_to_wire(partition: u32, outcome: ReadOutcome) -> pb::FetchResponse {
    pb::FetchResponse {
        records: outcome
            .records
            .into_iter()
            .map(|r| stored_to_wire(partition, r))
            .collect(),
        next_offset: outcome.next_offset,
        high_watermark: outcome.high_watermark,
        log_start_offset: outcome.log_start_offset,
        batches: Vec::new(),
    }
}

/// Where a subscription starts: a position, or a consumer group's commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscribeFrom {
    /// The same rule for every partition.
    Position(StartAt),
    /// Each partition at the group's committed offset.
    Group(GroupStart),
}

/// Where a subscription starts and how much each message carries.
pub fn subscribe_start(
    request: &pb::SubscribeRequest,
) -> Result<(SubscribeFrom, ReadLimits), InvalidField> {
    use pb::subscribe_request::Start;
    let max_records = match request.max_records_per_message as usize {
        0 => DEFAULT_SUBSCRIBE_RECORDS,
        n => n.min(MAX_SUBSCRIBE_RECORDS),
    };
    let limits = ReadLimits {
        max_records,
        max_bytes: SUBSCRIBE_CHUNK_BYTES,
    };
    let start = match request.start {
        Some(Start::Group(ref group)) => {
            return Ok((SubscribeFrom::Group(group_start(request, group)?), limits));
        }
        None => StartAt::Earliest,
        Some(Start::Offset(offset)) => StartAt::Offset(offset),
        Some(Start::TimestampMs(ts)) => StartAt::Timestamp(ts),
        Some(Start::Position(position)) => match pb::StartPosition::try_from(position) {
            Ok(pb::StartPosition::Unspecified | pb::StartPosition::Earliest) => StartAt::Earliest,
            Ok(pb::StartPosition::Latest) => StartAt::Latest,
            Err(_) => {
                return Err(InvalidField {
                    field: "position",
                    reason: format!("unknown start position {position}"),
                });
            }
        },
    };
    check_no_group_fields(request)?;
    Ok((SubscribeFrom::Position(start), limits))
}

impl From<PartitionOffsets> for pb::PartitionOffsets {
    fn from(offsets: PartitionOffsets) -> Self {
        pb::PartitionOffsets {
            partition: offsets.partition,
            earliest_offset: offsets.earliest,
            latest_offset: offsets.latest,
            timestamp_offset: offsets.for_timestamp,
        }
    }
}

impl TryFrom<pb::CreateTopicRequest> for NewTopic {
    type Error = InvalidField;

    fn try_from(request: pb::CreateTopicRequest) -> Result<Self, InvalidField> {
        let config = request.config.unwrap_or_default();
        Ok(NewTopic {
            name: request.name,
            partitions: (request.partitions != 0).then_some(request.partitions),
            retention_ms: config.retention_ms,
            retention_bytes: config.retention_bytes,
            segment_bytes: config.segment_bytes,
            cleanup_policy: cleanup_from_wire(config.cleanup_policy)?,
            delete_retention_ms: config.delete_retention_ms,
            min_cleanable_dirty_ratio: dirty_ratio_from_wire(config.min_cleanable_dirty_ratio)?,
            segment_ms: config.segment_ms,
            message_timestamp_before_max_ms: config.message_timestamp_before_max_ms,
            message_timestamp_after_max_ms: config.message_timestamp_after_max_ms,
            replication_factor: (request.replication_factor != 0)
                .then_some(request.replication_factor),
        })
    }
}

/// A dirty ratio from the wire, if present.
pub fn dirty_ratio_from_wire(value: Option<f64>) -> Result<Option<DirtyRatio>, InvalidField> {
    value
        .map(DirtyRatio::new)
        .transpose()
        .map_err(|reason| InvalidField {
            field: "min_cleanable_dirty_ratio",
            reason,
        })
}

/// A produce's acknowledgement level from the wire (UNSPECIFIED is ALL).
pub fn acks_from_wire(value: i32) -> Result<Acks, InvalidField> {
    match pb::Acks::try_from(value) {
        Ok(pb::Acks::Unspecified | pb::Acks::All) => Ok(Acks::All),
        Ok(pb::Acks::Leader) => Ok(Acks::Leader),
        Err(_) => Err(InvalidField {
            field: "acks",
            reason: format!("unknown level {value}: ACKS_ALL (1) or ACKS_LEADER (2)"),
        }),
    }
}

/// A cleanup policy from the wire (UNSPECIFIED is DELETE).
pub fn cleanup_from_wire(value: i32) -> Result<CleanupPolicy, InvalidField> {
    match pb::CleanupPolicy::try_from(value) {
        Ok(pb::CleanupPolicy::Unspecified | pb::CleanupPolicy::Delete) => Ok(CleanupPolicy::Delete),
        Ok(pb::CleanupPolicy::Compact) => Ok(CleanupPolicy::Compact),
        Err(_) => Err(InvalidField {
            field: "cleanup_policy",
            reason: format!("unknown policy {value}"),
        }),
    }
}

impl From<TopicConfig> for pb::TopicConfig {
    fn from(config: TopicConfig) -> Self {
        let policy = match config.cleanup_policy {
            CleanupPolicy::Delete => pb::CleanupPolicy::Delete,
            CleanupPolicy::Compact => pb::CleanupPolicy::Compact,
        };
        pb::TopicConfig {
            retention_ms: config.retention_ms,
            retention_bytes: config.retention_bytes,
            segment_bytes: Some(config.segment_bytes),
            cleanup_policy: policy.into(),
            delete_retention_ms: config.delete_retention_ms,
            min_cleanable_dirty_ratio: config.min_cleanable_dirty_ratio.map(DirtyRatio::get),
            segment_ms: config.segment_ms,
            message_timestamp_before_max_ms: config.message_timestamp_before_max_ms,
            message_timestamp_after_max_ms: config.message_timestamp_after_max_ms,
        }
    }
}

impl From<TopicSummary> for pb::TopicSummary {
    fn from(topic: TopicSummary) -> Self {
        pb::TopicSummary {
            name: topic.name,
            partitions: topic.partitions,
            config: Some(topic.config.into()),
        }
    }
}

impl From<TopicDescription> for pb::DescribeTopicResponse {
    fn from(description: TopicDescription) -> Self {
        let mut unavailable = description.unavailable;
        let partitions = description
            .partitions
            .into_iter()
            .zip(0u32..)
            .map(|(stats, partition): (LogStats, u32)| {
                let reason = unavailable.remove(&partition);
                let status = match reason {
                    Some(_) => pb::PartitionStatus::Unavailable,
                    None => pb::PartitionStatus::Online,
                };
                pb::PartitionDescription {
                    partition,
                    log_start_offset: stats.log_start_offset,
                    high_watermark: stats.high_watermark,
                    segment_count: stats.segment_count as u64,
                    size_bytes: stats.size_bytes,
                    status: status.into(),
                    unavailable_reason: reason.unwrap_or_default(),
                }
            })
            .collect();
        pb::DescribeTopicResponse {
            topic: Some(description.topic.into()),
            partitions,
        }
    }
}
