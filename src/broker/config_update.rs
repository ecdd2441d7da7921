//! A change to a topic's configuration (`UpdateTopicConfig`, `eventlog topic alter`):
//! per field, leave it, set it, or return it to its default.

use super::dirty_ratio::DirtyRatio;
use super::error::BrokerError;
use super::topic_config::{CleanupPolicy, TopicConfig};
use super::topic_name::TopicName;

/// What to do with one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Setting<T> {
    /// Leave the field as it is.
    #[default]
    Keep,
    /// Give it this value.
    Set(T),
    /// Return it to its default (for limits: no limit).
    Reset,
}

impl<T: Copy> Setting<T> {
    fn apply(self, current: Option<T>) -> Option<T> {
        match self {
            Setting::Keep => current,
            Setting::Set(value) => Some(value),
            Setting::Reset => None,
        }
    }
}

/// A change to a topic's config; every field defaults to [`Setting::Keep`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TopicConfigUpdate {
    /// See [`TopicConfig::retention_ms`]; reset keeps records forever.
    pub retention_ms: Setting<u64>,
    /// See [`TopicConfig::retention_bytes`]; reset removes the limit.
    pub retention_bytes: Setting<u64>,
    /// See [`TopicConfig::segment_bytes`]; reset returns to the broker's default.
    pub segment_bytes: Setting<u64>,
    /// See [`TopicConfig::cleanup_policy`]; reset returns to DELETE.
    pub cleanup_policy: Setting<CleanupPolicy>,
    /// See [`TopicConfig::delete_retention_ms`].
    pub delete_retention_ms: Setting<u64>,
    /// See [`TopicConfig::min_cleanable_dirty_ratio`].
    pub min_cleanable_dirty_ratio: Setting<DirtyRatio>,
    /// See [`TopicConfig::segment_ms`].
    pub segment_ms: Setting<u64>,
    /// See [`TopicConfig::message_timestamp_before_max_ms`]; reset removes the bound.
    pub message_timestamp_before_max_ms: Setting<u64>,
    /// See [`TopicConfig::message_timestamp_after_max_ms`]; reset returns to one hour.
    pub message_timestamp_after_max_ms: Setting<u64>,
}

impl TopicConfigUpdate {
    /// The config after this change, validated.
    pub(crate) fn apply(
        &self,
        topic: &TopicName,
        current: &TopicConfig,
        default_segment_bytes: u64,
    ) -> Result<TopicConfig, BrokerError> {
        let config = TopicConfig {
            retention_ms: self.retention_ms.apply(current.retention_ms),
            retention_bytes: self.retention_bytes.apply(current.retention_bytes),
            segment_bytes: self
                .segment_bytes
                .apply(Some(current.segment_bytes))
                .unwrap_or(default_segment_bytes),
            cleanup_policy: self
                .cleanup_policy
                .apply(Some(current.cleanup_policy))
                .unwrap_or_default(),
            delete_retention_ms: self.delete_retention_ms.apply(current.delete_retention_ms),
            min_cleanable_dirty_ratio: self
                .min_cleanable_dirty_ratio
                .apply(current.min_cleanable_dirty_ratio),
            segment_ms: self.segment_ms.apply(current.segment_ms),
            message_timestamp_before_max_ms: self
                .message_timestamp_before_max_ms
                .apply(current.message_timestamp_before_max_ms),
            message_timestamp_after_max_ms: self
                .message_timestamp_after_max_ms
                .apply(current.message_timestamp_after_max_ms),
        };
        config.validate(topic)?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_kept_set_or_reset() {
        let topic = TopicName::parse("t").unwrap();
        let current = TopicConfig {
            retention_ms: Some(1000),
            retention_bytes: Some(1 << 30),
            segment_bytes: 1 << 21,
            message_timestamp_before_max_ms: Some(5),
            ..TopicConfig::for_tests()
        };
        let update = TopicConfigUpdate {
            retention_ms: Setting::Reset,
            message_timestamp_before_max_ms: Setting::Reset,
            message_timestamp_after_max_ms: Setting::Set(0),
            cleanup_policy: Setting::Set(CleanupPolicy::Compact),
            segment_bytes: Setting::Reset,
            ..TopicConfigUpdate::default()
        };
        let next = update.apply(&topic, &current, 1 << 20).unwrap();
        assert_eq!(next.retention_ms, None);
        assert_eq!(next.retention_bytes, Some(1 << 30));
        assert_eq!(next.segment_bytes, 1 << 20);
        assert_eq!(next.cleanup_policy, CleanupPolicy::Compact);
        assert_eq!(next.message_timestamp_before_max_ms, None);
        assert_eq!(next.message_timestamp_after_max_ms, Some(0));
        let invalid = TopicConfigUpdate {
            segment_bytes: Setting::Set(5),
            ..TopicConfigUpdate::default()
        };
        assert!(matches!(
            invalid.apply(&topic, &current, 1 << 20),
            Err(BrokerError::InvalidConfig { .. })
        ));
    }
}
