//! Conversions of the consumer-group messages: commit requests, group subscription
//! starts, reset targets, and positions with lag.

use std::time::Duration;

use crate::broker::{
    CommitResult, GroupSummary, NoCommitStart, OffsetCommit, PartitionLag, ResetResult, ResetTo,
};
use crate::proto::v1 as pb;

use super::convert::InvalidField;

/// Shortest auto-commit interval accepted: commits are fsynced, so more often than this
/// would cost more than it saves.
pub const MIN_AUTO_COMMIT: Duration = Duration::from_millis(100);
/// Longest auto-commit interval accepted (one hour).
pub const MAX_AUTO_COMMIT: Duration = Duration::from_secs(3600);

/// A subscription that starts from a consumer group's commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupStart {
    /// The group.
    pub group: String,
    /// Where partitions without a commit start.
    pub no_commit: NoCommitStart,
    /// When set, the server commits what it handed to the transport at this interval.
    pub auto_commit: Option<Duration>,
}

/// The group start of a subscription whose `start` is `group`.
pub fn group_start(
    request: &pb::SubscribeRequest,
    group: &str,
) -> Result<GroupStart, InvalidField> {
    let no_commit = match pb::StartPosition::try_from(request.reset) {
        Ok(pb::StartPosition::Unspecified | pb::StartPosition::Earliest) => NoCommitStart::Earliest,
        Ok(pb::StartPosition::Latest) => NoCommitStart::Latest,
        Err(_) => {
            return Err(InvalidField {
                field: "reset",
                reason: format!("unknown start position {}", request.reset),
            });
        }
    };
    let auto_commit = match request.auto_commit_interval_ms {
        None => None,
        Some(ms) => {
            let interval = Duration::from_millis(u64::from(ms));
            if !(MIN_AUTO_COMMIT..=MAX_AUTO_COMMIT).contains(&interval) {
                return Err(InvalidField {
                    field: "auto_commit_interval_ms",
                    reason: format!("{ms} is not between 100 and 3600000"),
                });
            }
            Some(interval)
        }
    };
    Ok(GroupStart {
        group: group.to_string(),
        no_commit,
        auto_commit,
    })
}

/// Rejects group-only fields on a subscription that does not start from a group.
pub fn check_no_group_fields(request: &pb::SubscribeRequest) -> Result<(), InvalidField> {
    if request.auto_commit_interval_ms.is_some() {
        return Err(InvalidField {
            field: "auto_commit_interval_ms",
            reason: "auto-commit needs a group start".into(),
        });
    }
    Ok(())
}

impl From<pb::OffsetCommit> for OffsetCommit {
    fn from(commit: pb::OffsetCommit) -> Self {
        OffsetCommit {
            partition: commit.partition,
            next_offset: commit.next_offset,
            metadata: commit.metadata,
        }
    }
}

impl From<CommitResult> for pb::CommittedPartition {
    fn from(result: CommitResult) -> Self {
        pb::CommittedPartition {
            partition: result.partition,
            next_offset: result.next_offset,
            log_start_offset: result.log_start,
            high_watermark: result.high_watermark,
            below_log_start: result.below_log_start(),
        }
    }
}

impl From<PartitionLag> for pb::GroupPartitionOffset {
    fn from(position: PartitionLag) -> Self {
        let lag = position.lag();
        let (next_offset, metadata, commit_time_ms) = match position.committed {
            Some(c) => (Some(c.next_offset), c.metadata, c.commit_time_ms),
            None => (None, String::new(), 0),
        };
        pb::GroupPartitionOffset {
            topic: position.topic,
            partition: position.partition,
            next_offset,
            metadata,
            commit_time_ms,
            log_start_offset: position.log_start,
            high_watermark: position.high_watermark,
            lag,
        }
    }
}

impl From<GroupSummary> for pb::GroupSummary {
    fn from(summary: GroupSummary) -> Self {
        pb::GroupSummary {
            group: summary.group,
            topics: summary.topics,
        }
    }
}

impl From<ResetResult> for pb::ResetPartition {
    fn from(result: ResetResult) -> Self {
        pb::ResetPartition {
            partition: result.partition,
            previous_next_offset: result.previous,
            next_offset: result.next_offset,
        }
    }
}

/// Where a reset request moves the group.
pub fn reset_target(request: &pb::ResetGroupOffsetsRequest) -> Result<ResetTo, InvalidField> {
    use pb::reset_group_offsets_request::To;
    match request.to {
        None => Err(InvalidField {
            field: "to",
            reason: "a reset needs a target: position, offset or timestamp_ms".into(),
        }),
        Some(To::Offset(offset)) => Ok(ResetTo::Offset(offset)),
        Some(To::TimestampMs(ts)) => Ok(ResetTo::Timestamp(ts)),
        Some(To::Position(position)) => match pb::StartPosition::try_from(position) {
            Ok(pb::StartPosition::Unspecified | pb::StartPosition::Earliest) => {
                Ok(ResetTo::Earliest)
            }
            Ok(pb::StartPosition::Latest) => Ok(ResetTo::Latest),
            Err(_) => Err(InvalidField {
                field: "position",
                reason: format!("unknown start position {position}"),
            }),
        },
    }
}
