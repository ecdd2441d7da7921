//! A topic's configuration: plain data with defaults and validation, stored in
//! `topics/<topic>/topic.json`.
//!
//! Retention and compaction are recorded here and reported by `DescribeTopic`; enforcing
//! them is the job of background maintenance, which reads these same fields.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::BrokerError;
use super::topic_name::TopicName;
use crate::storage::config::{MAX_SEGMENT_BYTES, MIN_SEGMENT_BYTES};
use crate::storage::{FsyncPolicy, LogConfig};

/// Most partitions a topic may have; each partition holds open files and a tick.
pub const MAX_PARTITIONS: u32 = 1024;

/// Longest time a segment stays active under time retention (Kafka's `segment.ms`
/// default), so that an idle partition's records still age out.
const MAX_SEGMENT_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

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
}

impl TopicConfig {
    /// The storage configuration of each partition of a topic with this config.
    pub fn log_config(&self, fsync: FsyncPolicy) -> LogConfig {
        let segment_max_age = self
            .retention_ms
            .map(|ms| Duration::from_millis(ms.max(1)).min(MAX_SEGMENT_AGE));
        LogConfig {
            segment_bytes: self.segment_bytes,
            segment_max_age,
            fsync,
            ..LogConfig::default()
        }
    }

    fn validate(&self, topic: &TopicName) -> Result<(), BrokerError> {
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
        Ok(())
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
            retention_bytes: None,
            segment_bytes: 1 << 20,
            cleanup_policy: CleanupPolicy::Delete,
        };
        let log = config.log_config(FsyncPolicy::Never);
        assert_eq!(log.segment_max_age, Some(Duration::from_secs(60)));
        assert!(log.validate().is_ok());
    }
}
