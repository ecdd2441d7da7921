//! Conversions of the cleanup RPCs (`UpdateTopicConfig`, `CompactTopic`).

use super::convert::{InvalidField, cleanup_from_wire, dirty_ratio_from_wire};
use crate::broker::{PartitionCompaction, Setting, TopicConfigUpdate};
use crate::proto::v1 as pb;

/// Field names accepted in `UpdateTopicConfigRequest.reset`.
pub const RESETTABLE: [&str; 9] = [
    "retention_ms",
    "retention_bytes",
    "segment_bytes",
    "cleanup_policy",
    "delete_retention_ms",
    "min_cleanable_dirty_ratio",
    "segment_ms",
    "message_timestamp_before_max_ms",
    "message_timestamp_after_max_ms",
];

/// The requested change; a field both set and reset, or an unknown name, is refused.
pub fn config_update(
    request: &pb::UpdateTopicConfigRequest,
) -> Result<TopicConfigUpdate, InvalidField> {
    let set = request.set.unwrap_or_default();
    let policy = match set.cleanup_policy {
        0 => None,
        value => Some(cleanup_from_wire(value)?),
    };
    let mut update = TopicConfigUpdate {
        retention_ms: setting(set.retention_ms),
        retention_bytes: setting(set.retention_bytes),
        segment_bytes: setting(set.segment_bytes),
        cleanup_policy: setting(policy),
        delete_retention_ms: setting(set.delete_retention_ms),
        min_cleanable_dirty_ratio: setting(dirty_ratio_from_wire(set.min_cleanable_dirty_ratio)?),
        segment_ms: setting(set.segment_ms),
        message_timestamp_before_max_ms: setting(set.message_timestamp_before_max_ms),
        message_timestamp_after_max_ms: setting(set.message_timestamp_after_max_ms),
    };
    for name in &request.reset {
        let already_set = match name.as_str() {
            "retention_ms" => reset(&mut update.retention_ms),
            "retention_bytes" => reset(&mut update.retention_bytes),
            "segment_bytes" => reset(&mut update.segment_bytes),
            "cleanup_policy" => reset(&mut update.cleanup_policy),
            "delete_retention_ms" => reset(&mut update.delete_retention_ms),
            "min_cleanable_dirty_ratio" => reset(&mut update.min_cleanable_dirty_ratio),
            "segment_ms" => reset(&mut update.segment_ms),
            "message_timestamp_before_max_ms" => reset(&mut update.message_timestamp_before_max_ms),
            "message_timestamp_after_max_ms" => reset(&mut update.message_timestamp_after_max_ms),
            other => {
                // Cut: the message travels in a response header, which a name of
                // megabytes would make too large to deliver.
                let shown: String = other.chars().take(64).collect();
                return Err(InvalidField {
                    field: "reset",
                    reason: format!("unknown field {shown:?} (one of {})", RESETTABLE.join(", ")),
                });
            }
        };
        if already_set {
            return Err(InvalidField {
                field: "reset",
                reason: format!("{name} is both set and reset"),
            });
        }
    }
    Ok(update)
}

fn setting<T>(value: Option<T>) -> Setting<T> {
    value.map_or(Setting::Keep, Setting::Set)
}

/// Marks a field for reset; true if it was already set.
fn reset<T>(field: &mut Setting<T>) -> bool {
    let was_set = matches!(field, Setting::Set(_));
    *field = Setting::Reset;
    was_set
}

impl From<PartitionCompaction> for pb::PartitionCompaction {
    fn from(outcome: PartitionCompaction) -> Self {
        let stats = outcome.stats;
        pb::PartitionCompaction {
            partition: outcome.partition,
            segments_before: stats.segments_before as u64,
            segments_after: stats.segments_after as u64,
            bytes_before: stats.bytes_before,
            bytes_after: stats.bytes_after,
            records_removed: stats.records_removed,
            tombstones_removed: stats.tombstones_removed,
            duration_ms: u64::try_from(stats.duration.as_millis()).unwrap_or(u64::MAX),
            node_id: outcome.node,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_reset_of_one_field_is_refused() {
        let request = pb::UpdateTopicConfigRequest {
            name: "t".into(),
            set: Some(pb::TopicConfig {
                retention_ms: Some(5),
                ..Default::default()
            }),
            reset: vec!["retention_bytes".into()],
        };
        let update = config_update(&request).unwrap();
        assert_eq!(update.retention_ms, Setting::Set(5));
        assert_eq!(update.retention_bytes, Setting::Reset);
        assert_eq!(update.segment_bytes, Setting::Keep);
        let both = pb::UpdateTopicConfigRequest {
            reset: vec!["retention_ms".into()],
            ..request.clone()
        };
        assert!(config_update(&both).is_err());
        let unknown = pb::UpdateTopicConfigRequest {
            reset: vec!["colour".into()],
            ..request
        };
        assert!(config_update(&unknown).is_err());
    }
}
