//! The body of `PATCH /api/v1/topics/{topic}`, a JSON merge patch of the config: a
//! field left out keeps its value, `null` returns it to its default, a value sets it.
//! It converts to the broker's `TopicConfigUpdate`, the same one gRPC builds.

use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use super::ApiError;
use crate::broker::{CleanupPolicy, DirtyRatio, Setting, TopicConfigUpdate};

/// A change to a topic's config.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlterTopic {
    #[serde(default, deserialize_with = "setting")]
    #[schema(value_type = Option<u64>)]
    retention_ms: Setting<u64>,
    #[serde(default, deserialize_with = "setting")]
    #[schema(value_type = Option<u64>)]
    retention_bytes: Setting<u64>,
    #[serde(default, deserialize_with = "setting")]
    #[schema(value_type = Option<u64>)]
    segment_bytes: Setting<u64>,
    /// `delete` or `compact`.
    #[serde(default, deserialize_with = "setting")]
    #[schema(value_type = Option<String>)]
    cleanup_policy: Setting<CleanupPolicy>,
    #[serde(default, deserialize_with = "setting")]
    #[schema(value_type = Option<u64>)]
    delete_retention_ms: Setting<u64>,
    /// 0.0 to 1.0.
    #[serde(default, deserialize_with = "setting")]
    #[schema(value_type = Option<f64>)]
    min_cleanable_dirty_ratio: Setting<f64>,
    #[serde(default, deserialize_with = "setting")]
    #[schema(value_type = Option<u64>)]
    segment_ms: Setting<u64>,
    #[serde(default, deserialize_with = "setting")]
    #[schema(value_type = Option<u64>)]
    message_timestamp_before_max_ms: Setting<u64>,
    #[serde(default, deserialize_with = "setting")]
    #[schema(value_type = Option<u64>)]
    message_timestamp_after_max_ms: Setting<u64>,
}

/// A present field: `null` resets it, a value sets it (absent fields take the default,
/// keep, through `#[serde(default)]`).
fn setting<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Setting<T>, D::Error> {
    Ok(Option::<T>::deserialize(deserializer)?.map_or(Setting::Reset, Setting::Set))
}

impl AlterTopic {
    /// The broker's update; the ratio is checked here as gRPC checks it.
    pub fn into_update(self) -> Result<TopicConfigUpdate, ApiError> {
        let ratio =
            match self.min_cleanable_dirty_ratio {
                Setting::Keep => Setting::Keep,
                Setting::Reset => Setting::Reset,
                Setting::Set(value) => Setting::Set(DirtyRatio::new(value).map_err(|why| {
                    ApiError::invalid(format!("min_cleanable_dirty_ratio: {why}"))
                })?),
            };
        Ok(TopicConfigUpdate {
            retention_ms: self.retention_ms,
            retention_bytes: self.retention_bytes,
            segment_bytes: self.segment_bytes,
            cleanup_policy: self.cleanup_policy,
            delete_retention_ms: self.delete_retention_ms,
            min_cleanable_dirty_ratio: ratio,
            segment_ms: self.segment_ms,
            message_timestamp_before_max_ms: self.message_timestamp_before_max_ms,
            message_timestamp_after_max_ms: self.message_timestamp_after_max_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_keeps_null_resets_and_a_value_sets() {
        let body: AlterTopic =
            serde_json::from_str(r#"{"retention_ms": 5000, "retention_bytes": null}"#).unwrap();
        let update = body.into_update().unwrap();
        assert_eq!(update.retention_ms, Setting::Set(5000));
        assert_eq!(update.retention_bytes, Setting::Reset);
        assert_eq!(update.segment_bytes, Setting::Keep);
    }

    #[test]
    fn a_ratio_outside_zero_to_one_is_refused() {
        let body: AlterTopic =
            serde_json::from_str(r#"{"min_cleanable_dirty_ratio": 1.5}"#).unwrap();
        assert!(body.into_update().is_err());
    }
}
