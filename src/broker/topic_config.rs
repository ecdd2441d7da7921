//! A topic's configuration: plain data with defaults and validation, stored in
//! `topics/<topic>/topic.json`.
//!
//! Retention and compaction are recorded here and reported by `DescribeTopic`; enforcing
//! them is the job of background maintenance, which reads these same fields.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::dirty_ratio::DirtyRatio;
use super::error::BrokerError;
use super::timestamp_bounds::DEFAULT_TIMESTAMP_AFTER_MAX;
use super::topic_name::TopicName;
use crate::storage::config::{MAX_SEGMENT_BYTES, MIN_SEGMENT_BYTES};
use crate::storage::{FsyncPolicy, LogConfig};

/// Most partitions a topic may have; each partition holds open files and a tick.
pub const MAX_PARTITIONS: u32 = 1024;

/// Longest time a segment stays active under time retention (Kafka's `segment.ms`
/// default), so that an idle partition's records still age out.
const MAX_SEGMENT_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long compaction keeps a tombstone that is its key's newest record, when the topic
/// does not say (Kafka's `delete.retention.ms` default): consumers that read the key's
/// older value have a day to see its deletion too.
pub const DEFAULT_DELETE_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// What happens to old records of a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CleanupPolicy {
    /// Whole old segments are deleted by retention time and size.
    #[default]
    Delete,
    /// Older records of a key are removed once a newer record of the key exists.
    Compact,
}

/// The stored configuration of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicConfig {
    /// Keep records at least this many milliseconds; `None` keeps them forever.
    pub retention_ms: Option<u64>,
    /// Keep at most about this many bytes per partition; `None` sets no limit.
    pub retention_bytes: Option<u64>,
    /// Segment size in bytes at which a partition rolls to a new segment (1 MiB..=2 GiB).
    pub segment_bytes: u64,
    /// Delete or compact.
    pub cleanup_policy: CleanupPolicy,
    /// Compaction keeps a tombstone this many milliseconds (from its timestamp) before
    /// removing it; `None` means [`DEFAULT_DELETE_RETENTION`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_retention_ms: Option<u64>,
    /// Background compaction starts once more than this share of the sealed bytes was
    /// written since the last compaction; `None` means [`DirtyRatio::DEFAULT`] (0.5).
    /// 1.0 turns background compaction off (on-demand compaction still works).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_cleanable_dirty_ratio: Option<DirtyRatio>,
    /// Roll the active segment once it is this many milliseconds old, so its records
    /// become eligible for retention and compaction; `None`: the retention time for
    /// DELETE topics (at most 7 days), 7 days for COMPACT topics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_ms: Option<u64>,
    /// Refuse records stamped more than this many milliseconds before the broker's
    /// clock; `None`: no bound (Kafka's `message.timestamp.before.max.ms` default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_timestamp_before_max_ms: Option<u64>,
    /// Refuse records stamped more than this many milliseconds after the broker's
    /// clock; `None` means [`DEFAULT_TIMESTAMP_AFTER_MAX`] (one hour).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_timestamp_after_max_ms: Option<u64>,
}

impl TopicConfig {
    /// The storage configuration of each partition of a topic with this config.
    pub fn log_config(&self, fsync: FsyncPolicy) -> LogConfig {
        // Only sealed segments are deleted or compacted, so an idle partition's active
        // segment must age out, or its records would never be cleaned up.
        let segment_max_age = match (self.segment_ms, self.cleanup_policy) {
            (Some(ms), _) => Some(Duration::from_millis(ms.max(1))),
            (None, CleanupPolicy::Delete) => self
                .retention_ms
                .map(|ms| Duration::from_millis(ms.max(1)).min(MAX_SEGMENT_AGE)),
            (None, CleanupPolicy::Compact) => Some(MAX_SEGMENT_AGE),
        };
        LogConfig {
            segment_bytes: self.segment_bytes,
            segment_max_age,
            fsync,
            ..LogConfig::default()
        }
    }

    /// How long compaction keeps a tombstone that is its key's newest record.
    pub fn delete_retention(&self) -> Duration {
        self.delete_retention_ms
            .map_or(DEFAULT_DELETE_RETENTION, Duration::from_millis)
    }

    /// How far ahead of the broker's clock a record may be stamped, in milliseconds.
    pub fn timestamp_after_max_ms(&self) -> u64 {
        self.message_timestamp_after_max_ms.unwrap_or_else(|| {
            u64::try_from(DEFAULT_TIMESTAMP_AFTER_MAX.as_millis()).unwrap_or(u64::MAX)
        })
    }

    /// The dirty ratio at which background compaction starts.
    pub fn dirty_ratio(&self) -> DirtyRatio {
        self.min_cleanable_dirty_ratio
            .unwrap_or(DirtyRatio::DEFAULT)
    }

    pub(crate) fn validate(&self, topic: &TopicName) -> Result<(), BrokerError> {
        let invalid = |reason: String| BrokerError::InvalidConfig {
            topic: topic.to_string(),
            reason,
        };
        if !(MIN_SEGMENT_BYTES..=MAX_SEGMENT_BYTES).contains(&self.segment_bytes) {
            return Err(invalid(format!(
                "segment_bytes {} is outside {MIN_SEGMENT_BYTES}..={MAX_SEGMENT_BYTES}",
                self.segment_bytes
            )));
        }
        if self.retention_ms == Some(0) {
            return Err(invalid(
                "retention_ms must be positive (leave it unset to keep records forever)".into(),
            ));
        }
        if self.retention_bytes == Some(0) {
            return Err(invalid(
                "retention_bytes must be positive (leave it unset for no limit)".into(),
            ));
        }
        if self.segment_ms == Some(0) {
            return Err(invalid(
                "segment_ms must be positive (leave it unset for the default)".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
impl TopicConfig {
    /// Tests' starting point: a DELETE topic with 1 MiB segments, every optional setting
    /// at its default.
    pub(crate) fn for_tests() -> TopicConfig {
        TopicConfig {
            retention_ms: None,
            retention_bytes: None,
            segment_bytes: 1 << 20,
            cleanup_policy: CleanupPolicy::Delete,
            delete_retention_ms: None,
            min_cleanable_dirty_ratio: None,
            segment_ms: None,
            message_timestamp_before_max_ms: None,
            message_timestamp_after_max_ms: None,
        }
    }
}

/// A request to create a topic; `None` fields take the broker's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewTopic {
    /// Topic name, validated by the broker.
    pub name: String,
    /// Partition count, 1..=[`MAX_PARTITIONS`]; default 1.
    pub partitions: Option<u32>,
    /// See [`TopicConfig::retention_ms`].
    pub retention_ms: Option<u64>,
    /// See [`TopicConfig::retention_bytes`].
    pub retention_bytes: Option<u64>,
    /// See [`TopicConfig::segment_bytes`]; default from the broker config.
    pub segment_bytes: Option<u64>,
    /// See [`TopicConfig::cleanup_policy`].
    pub cleanup_policy: CleanupPolicy,
    /// See [`TopicConfig::delete_retention_ms`].
    pub delete_retention_ms: Option<u64>,
    /// See [`TopicConfig::min_cleanable_dirty_ratio`].
    pub min_cleanable_dirty_ratio: Option<DirtyRatio>,
    /// See [`TopicConfig::segment_ms`].
    pub segment_ms: Option<u64>,
    /// See [`TopicConfig::message_timestamp_before_max_ms`].
    pub message_timestamp_before_max_ms: Option<u64>,
    /// See [`TopicConfig::message_timestamp_after_max_ms`].
    pub message_timestamp_after_max_ms: Option<u64>,
    /// Replicas of each partition, 1 to the number of nodes; default the smaller of 3
    /// and the node count in a cluster, 1 on a single node (which refuses more).
    pub replication_factor: Option<u32>,
}

/// A topic as reported by list and describe: name, partition count and config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicSummary {
    /// The topic name.
    pub name: String,
    /// Number of partitions.
    pub partitions: u32,
    /// The topic's configuration.
    pub config: TopicConfig,
}

impl NewTopic {
    /// Validates the request and fills in defaults.
    pub(crate) fn resolve(
        self,
        default_segment_bytes: u64,
    ) -> Result<(TopicName, TopicSummary), BrokerError> {
        let name = TopicName::parse(&self.name)?;
        let partitions = self.partitions.unwrap_or(1);
        if !(1..=MAX_PARTITIONS).contains(&partitions) {
            return Err(BrokerError::InvalidConfig {
                topic: name.to_string(),
                reason: format!("partitions {partitions} is outside 1..={MAX_PARTITIONS}"),
            });
        }
        let config = TopicConfig {
            retention_ms: self.retention_ms,
            retention_bytes: self.retention_bytes,
            segment_bytes: self.segment_bytes.unwrap_or(default_segment_bytes),
            cleanup_policy: self.cleanup_policy,
            delete_retention_ms: self.delete_retention_ms,
            min_cleanable_dirty_ratio: self.min_cleanable_dirty_ratio,
            segment_ms: self.segment_ms,
            message_timestamp_before_max_ms: self.message_timestamp_before_max_ms,
            message_timestamp_after_max_ms: self.message_timestamp_after_max_ms,
        };
        config.validate(&name)?;
        let summary = TopicSummary {
            name: name.to_string(),
            partitions,
            config,
        };
        Ok((name, summary))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> NewTopic {
        NewTopic {
            name: "t".into(),
            ..NewTopic::default()
        }
    }

    #[test]
    fn defaults_are_filled_in() {
        let (_, summary) = request().resolve(1 << 30).unwrap();
        assert_eq!(summary.partitions, 1);
        assert_eq!(summary.config.segment_bytes, 1 << 30);
        assert_eq!(summary.config.cleanup_policy, CleanupPolicy::Delete);
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        let bad = [
            NewTopic {
                partitions: Some(0),
                ..request()
            },
            NewTopic {
                partitions: Some(MAX_PARTITIONS + 1),
                ..request()
            },
            NewTopic {
                segment_bytes: Some(1000),
                ..request()
            },
            NewTopic {
                retention_ms: Some(0),
                ..request()
            },
            NewTopic {
                retention_bytes: Some(0),
                ..request()
            },
        ];
        for request in bad {
            assert!(matches!(
                request.resolve(1 << 30),
                Err(BrokerError::InvalidConfig { .. })
            ));
        }
    }

    #[test]
    fn time_retention_bounds_segment_age() {
        let config = TopicConfig {
            retention_ms: Some(60_000),
            ..TopicConfig::for_tests()
        };
        let log = config.log_config(FsyncPolicy::Never);
        assert_eq!(log.segment_max_age, Some(Duration::from_secs(60)));
        assert!(log.validate().is_ok());
        let compacted = TopicConfig {
            cleanup_policy: CleanupPolicy::Compact,
            ..config.clone()
        };
        assert_eq!(
            compacted.log_config(FsyncPolicy::Never).segment_max_age,
            Some(MAX_SEGMENT_AGE)
        );
        let explicit = TopicConfig {
            segment_ms: Some(500),
            ..config
        };
        assert_eq!(
            explicit.log_config(FsyncPolicy::Never).segment_max_age,
            Some(Duration::from_millis(500))
        );
    }

    #[test]
    fn topic_json_without_the_cleanup_fields_still_reads() {
        let old = r#"{"retention_ms":null,"retention_bytes":null,"segment_bytes":1048576,"cleanup_policy":"compact"}"#;
        let config: TopicConfig = serde_json::from_str(old).unwrap();
        assert_eq!(config.delete_retention(), DEFAULT_DELETE_RETENTION);
        assert_eq!(config.dirty_ratio(), DirtyRatio::DEFAULT);
        assert_eq!(config.message_timestamp_before_max_ms, None);
        assert_eq!(config.timestamp_after_max_ms(), 3_600_000);
    }

    #[test]
    fn timestamp_bounds_are_stored_only_when_set() {
        let (_, summary) = request().resolve(1 << 20).unwrap();
        let json = serde_json::to_string(&summary.config).unwrap();
        assert!(!json.contains("message_timestamp"), "{json}");
        let (_, summary) = NewTopic {
            message_timestamp_before_max_ms: Some(86_400_000),
            message_timestamp_after_max_ms: Some(60_000),
            ..request()
        }
        .resolve(1 << 20)
        .unwrap();
        let json = serde_json::to_string(&summary.config).unwrap();
        assert_eq!(
            json,
            r#"{"retention_ms":null,"retention_bytes":null,"segment_bytes":1048576,"cleanup_policy":"delete","message_timestamp_before_max_ms":86400000,"message_timestamp_after_max_ms":60000}"#
        );
        let back: TopicConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, summary.config);
    }
}
