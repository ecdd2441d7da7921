//! Value types of the consumer-group operations: what a commit asks for and reports,
//! the committed position and lag of a partition, and where a reset moves a group.

use super::BrokerError;
use super::group_store::{Committed, MAX_GROUP_NAME_BYTES};

/// One partition's position in a commit request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommit {
    /// The partition.
    pub partition: u32,
    /// The next offset the group will read: one past the last record it processed.
    pub next_offset: u64,
    /// Free-form metadata stored with the position (at most 4096 bytes).
    pub metadata: String,
}

/// What a commit stored for one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitResult {
    /// The partition.
    pub partition: u32,
    /// The stored next offset.
    pub next_offset: u64,
    /// The partition's first readable offset when the commit was stored.
    pub log_start: u64,
    /// The partition's high watermark when the commit was stored.
    pub high_watermark: u64,
}

impl CommitResult {
    /// True when the committed offset was already removed by retention: a consumer
    /// resuming from it starts at the log start instead.
    pub fn below_log_start(&self) -> bool {
        self.next_offset < self.log_start
    }
}

/// A group's position in one partition, with the partition's bounds and the lag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// The group's commit, if it has one for this partition.
    pub committed: Option<Committed>,
    /// First readable offset.
    pub log_start: u64,
    /// One past the last durable offset.
    pub high_watermark: u64,
}

impl PartitionLag {
    /// Records the group has yet to read: high watermark − max(committed, log start).
    /// Without a commit the group would read from the log start, so all of it counts.
    pub fn lag(&self) -> u64 {
        let position = self
            .committed
            .as_ref()
            .map_or(self.log_start, |c| c.next_offset.max(self.log_start));
        self.high_watermark.saturating_sub(position)
    }
}

/// A group and the topics it has committed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSummary {
    /// The group name.
    pub group: String,
    /// Topics with at least one commit, in name order.
    pub topics: Vec<String>,
}

/// Where [`Broker::reset_group_offsets`](super::Broker::reset_group_offsets) moves a
/// group, like `kafka-consumer-groups --reset-offsets`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTo {
    /// Each partition's first readable offset.
    Earliest,
    /// Each partition's high watermark: skip everything written so far.
    Latest,
    /// This offset in each partition, clamped into the partition's readable range.
    Offset(u64),
    /// The first offset with a timestamp at or after this time (ms since the epoch);
    /// the high watermark where no such record exists.
    Timestamp(i64),
}

/// What a reset did (or would do, in a dry run) to one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResetResult {
    /// The partition.
    pub partition: u32,
    /// The committed next offset before the reset, if there was one.
    pub previous: Option<u64>,
    /// The next offset after the reset.
    pub next_offset: u64,
}

/// Where a group subscription starts in a partition the group never committed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NoCommitStart {
    /// The first readable offset (the default).
    #[default]
    Earliest,
    /// The high watermark: only new records.
    Latest,
}

/// Checks a group name: 1 to [`MAX_GROUP_NAME_BYTES`] bytes, no control characters
/// (names are printed in tables and logs).
pub fn validate_group_name(name: &str) -> Result<(), BrokerError> {
    let reason = if name.is_empty() {
        "it is empty".to_string()
    } else if name.len() > MAX_GROUP_NAME_BYTES {
        format!("it is longer than {MAX_GROUP_NAME_BYTES} bytes")
    } else if name.chars().any(char::is_control) {
        "it contains control characters".to_string()
    } else {
        return Ok(());
    };
    Err(BrokerError::InvalidGroupName {
        name: name.chars().take(64).collect(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lag(committed: Option<u64>, log_start: u64, high_watermark: u64) -> u64 {
        PartitionLag {
            topic: "t".into(),
            partition: 0,
            committed: committed.map(|next_offset| Committed {
                next_offset,
                metadata: String::new(),
                commit_time_ms: 0,
            }),
            log_start,
            high_watermark,
        }
        .lag()
    }

    #[test]
    fn lag_is_clamped_at_the_log_start() {
        assert_eq!(lag(Some(3), 0, 10), 7);
        assert_eq!(lag(Some(3), 5, 10), 5);
        assert_eq!(lag(None, 2, 10), 8);
        assert_eq!(lag(Some(10), 0, 10), 0);
    }

    #[test]
    fn group_names_are_checked() {
        assert!(validate_group_name("billing-v2").is_ok());
        assert!(validate_group_name("").is_err());
        assert!(validate_group_name(&"g".repeat(MAX_GROUP_NAME_BYTES + 1)).is_err());
        assert!(validate_group_name("a\nb").is_err());
    }
}
