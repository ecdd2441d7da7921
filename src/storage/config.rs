//! Per-log configuration: plain data with defaults and a `validate()`.

use super::batch::BatchFormat;
use super::producer_state::ProducerLimits;
use std::time::Duration;

use super::error::ConfigError;
use super::open_segments::OpenSegments;

/// When appended bytes are forced to stable storage before they count as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// Acknowledge an append only after `fdatasync`; concurrent appends share one
    /// `fdatasync` (group commit). The default: an acknowledged record survives power loss.
    #[default]
    Always,
    /// `fdatasync` at most once per interval; acknowledged records may be lost on power
    /// loss (not on a process crash) if they were written within the last interval.
    Interval(Duration),
    /// Never `fdatasync` on the append path; the OS writes back when it likes.
    /// Records survive a process crash, not a power loss.
    Never,
}

impl std::fmt::Display for FsyncPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FsyncPolicy::Always => write!(f, "always"),
            FsyncPolicy::Interval(d) => write!(f, "interval:{}", d.as_millis()),
            FsyncPolicy::Never => write!(f, "never"),
        }
    }
}

impl std::str::FromStr for FsyncPolicy {
    type Err = ConfigError;

    /// Parses `always`, `never` or `interval:MS` (milliseconds, at least 1).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "always" => Ok(FsyncPolicy::Always),
            "never" => Ok(FsyncPolicy::Never),
            other => {
                let ms = other
                    .strip_prefix("interval:")
                    .and_then(|ms| ms.parse::<u64>().ok())
                    .filter(|ms| *ms > 0)
                    .ok_or_else(|| ConfigError::BadFsyncPolicy(other.to_string()))?;
                Ok(FsyncPolicy::Interval(Duration::from_millis(ms)))
            }
        }
    }
}

/// Smallest allowed `segment_bytes` (1 MiB).
pub const MIN_SEGMENT_BYTES: u64 = 1 << 20;
/// Largest allowed `segment_bytes` (2 GiB): positions inside a segment are `u32`.
pub const MAX_SEGMENT_BYTES: u64 = 1 << 31;
/// Largest allowed `max_batch_bytes` (256 MiB).
pub const MAX_BATCH_BYTES_LIMIT: u32 = 256 << 20;

/// Configuration of one partition log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Roll to a new segment once the active one holds this many bytes.
    /// Default 1 GiB; between 1 MiB and 2 GiB.
    pub segment_bytes: u64,
    /// Roll a non-empty active segment once it is older than this, so idle
    /// partitions age out under time retention. Default: none (size only).
    pub segment_max_age: Option<Duration>,
    /// Add a sparse index entry once this many bytes were appended since the last
    /// entry. Default 4 KiB; at least 1.
    pub index_interval_bytes: u32,
    /// Durability of appends. Default [`FsyncPolicy::Always`].
    pub fsync: FsyncPolicy,
    /// Largest encoded batch accepted by `append`, in bytes. Default 16 MiB.
    pub max_batch_bytes: u32,
    /// The cap on loaded sealed segments this log is charged to; share one between the
    /// logs of a process. Fixed when the log opens (`update_config` keeps the log's).
    /// Default: a budget of its own with the default cap.
    pub open_segments: OpenSegments,
    /// The batch format appends write, [`BatchFormat::CURRENT`] (Kafka's RecordBatch v2)
    /// unless a test or benchmark writes the format of older versions on purpose.
    /// Opening reads every format whatever this says.
    pub batch_format: BatchFormat,
    /// Limits of the idempotent producers this log tracks: how many at once (default
    /// 10,000) and how long one is kept after its last append (default 1 day).
    pub producer_limits: ProducerLimits,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_max_age: None,
            index_interval_bytes: 4096,
            fsync: FsyncPolicy::Always,
            max_batch_bytes: 16 << 20,
            open_segments: OpenSegments::default(),
            batch_format: BatchFormat::CURRENT,
            producer_limits: ProducerLimits::default(),
        }
    }
}

impl LogConfig {
    /// Checks every field against its documented range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(MIN_SEGMENT_BYTES..=MAX_SEGMENT_BYTES).contains(&self.segment_bytes) {
            return Err(ConfigError::SegmentBytes(self.segment_bytes));
        }
        if self.index_interval_bytes == 0 {
            return Err(ConfigError::IndexInterval);
        }
        if self.max_batch_bytes == 0 || self.max_batch_bytes > MAX_BATCH_BYTES_LIMIT {
            return Err(ConfigError::MaxBatchBytes(self.max_batch_bytes));
        }
        if self.segment_max_age == Some(Duration::ZERO) {
            return Err(ConfigError::SegmentAge);
        }
        Ok(())
    }
}

#[cfg(test)]
impl LogConfig {
    /// 1 MiB segments, otherwise the defaults (`always` fsync): unit tests.
    pub(crate) fn small() -> LogConfig {
        LogConfig {
            segment_bytes: 1 << 20,
            ..LogConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fsync_policy_parses_and_prints() {
        for text in ["always", "never", "interval:250"] {
            let policy: FsyncPolicy = text.parse().unwrap();
            assert_eq!(policy.to_string(), text);
        }
        assert!("interval:0".parse::<FsyncPolicy>().is_err());
        assert!("sometimes".parse::<FsyncPolicy>().is_err());
    }

    #[test]
    fn validate_rejects_out_of_range_fields() {
        assert!(LogConfig::default().validate().is_ok());
        let small = LogConfig {
            segment_bytes: 1000,
            ..LogConfig::default()
        };
        assert!(matches!(
            small.validate(),
            Err(ConfigError::SegmentBytes(1000))
        ));
        let no_interval = LogConfig {
            index_interval_bytes: 0,
            ..LogConfig::default()
        };
        assert!(no_interval.validate().is_err());
    }
}
