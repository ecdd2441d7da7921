//! Retention of DELETE topics: whole sealed segments go once their newest record is
//! older than `retention_ms`, and the oldest go while the partition holds more than
//! `retention_bytes`. The active segment is never deleted; it rolls by age (see
//! `TopicConfig::log_config`), so an idle partition still ages out.

use std::time::{SystemTime, UNIX_EPOCH};

use super::error::BrokerError;
use super::future_segment;
use super::partition::Partition;
use super::topic_config::{CleanupPolicy, TopicConfig};
use crate::storage::{DeletedSegments, SegmentInfo};

/// Why segments are deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionReason {
    /// Their newest record is older than the retention time.
    Time,
    /// The partition is larger than the retention size.
    Size,
}

impl RetentionReason {
    fn as_str(self) -> &'static str {
        match self {
            RetentionReason::Time => "time",
            RetentionReason::Size => "size",
        }
    }
}

/// The offset below which whole segments may go, and why; `None` when nothing is due.
/// `segments` is oldest first with the active segment last, as the log reports them.
pub fn retention_point(
    segments: &[SegmentInfo],
    config: &TopicConfig,
    now_ms: i64,
) -> Option<(u64, RetentionReason)> {
    let sealed = segments.iter().take_while(|s| s.sealed);
    let by_time = config.retention_ms.and_then(|ms| {
        let cutoff = time_cutoff(now_ms, ms);
        sealed
            .clone()
            .take_while(|s| s.max_timestamp_ms < cutoff)
            .last()
            .map(|s| (s.next_offset, RetentionReason::Time))
    });
    let by_size = config.retention_bytes.and_then(|limit| {
        let mut total: u64 = segments.iter().map(|s| s.size_bytes).sum();
        sealed
            .clone()
            .take_while(|s| {
                let over = total > limit;
                total = total.saturating_sub(s.size_bytes);
                over
            })
            .last()
            .map(|s| (s.next_offset, RetentionReason::Size))
    });
    by_time
        .into_iter()
        .chain(by_size)
        .max_by_key(|(offset, _)| *offset)
}

/// Records with a newest timestamp before this are past a retention time of
/// `retention_ms`.
fn time_cutoff(now_ms: i64, retention_ms: u64) -> i64 {
    now_ms.saturating_sub(i64::try_from(retention_ms).unwrap_or(i64::MAX))
}

/// Warns (rate-limited) when a segment stamped in the future stops time retention
/// before segments that are due.
fn warn_if_held_back(
    partition: &Partition,
    segments: &[SegmentInfo],
    config: &TopicConfig,
    point: Option<(u64, RetentionReason)>,
    now_ms: i64,
) {
    let Some(ms) = config.retention_ms else {
        return;
    };
    let kept_from = point.map_or(0, |(offset, _)| offset);
    let cutoff = time_cutoff(now_ms, ms);
    if let Some(segment) = future_segment::holding_back(segments, kept_from, now_ms, cutoff) {
        future_segment::warn(partition.ident(), &segment, now_ms);
    }
}

/// Whether `config` asks for retention at all.
fn retains(config: &TopicConfig) -> bool {
    config.cleanup_policy == CleanupPolicy::Delete
        && (config.retention_ms.is_some() || config.retention_bytes.is_some())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The offset below which retention would delete this replica's segments, without
/// deleting anything: a replica's log start moves by a Raft purge instead (see
/// [`crate::cluster::log_trim`]). `None` when nothing is due.
pub fn replica_point(
    partition: &Partition,
    config: &TopicConfig,
) -> Result<Option<u64>, BrokerError> {
    if !retains(config) {
        return Ok(None);
    }
    let now_ms = now_ms();
    partition.with_log(|log| {
        let segments = log.segment_infos();
        let point = retention_point(&segments, config, now_ms);
        warn_if_held_back(partition, &segments, config, point, now_ms);
        point
            .map(|(offset, _)| offset)
            .filter(|offset| *offset > log.log_start_offset())
    })
}

/// Applies retention to one partition of a DELETE topic; logs what it deleted.
pub fn apply(
    partition: &Partition,
    config: &TopicConfig,
) -> Result<Option<DeletedSegments>, BrokerError> {
    if !retains(config) {
        return Ok(None);
    }
    let _maintenance = partition.maintenance();
    let now_ms = now_ms();
    partition.with_log(|log| {
        let segments = log.segment_infos();
        let point = retention_point(&segments, config, now_ms);
        warn_if_held_back(partition, &segments, config, point, now_ms);
        let Some((offset, reason)) = point else {
            return Ok(None);
        };
        let old_start = log.log_start_offset();
        let deleted =
            log.delete_segments_below(offset)
                .map_err(|source| BrokerError::Maintenance {
                    topic: partition.ident().topic.clone(),
                    partition: partition.number(),
                    source: Box::new(source),
                })?;
        let bases: Vec<u64> = segments
            .iter()
            .take(deleted.segments)
            .map(|s| s.base_offset)
            .collect();
        tracing::info!(
            partition = %partition.ident(),
            dir = %log.dir().display(),
            reason = reason.as_str(),
            segments = deleted.segments,
            base_offsets = ?bases,
            bytes = deleted.bytes,
            records = deleted.log_start_offset.saturating_sub(old_start),
            log_start = deleted.log_start_offset,
            "retention deleted segments"
        );
        Ok(Some(deleted))
    })?
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A segment as the log reports it.
    pub(crate) fn segment(
        base: u64,
        next: u64,
        size: u64,
        max_ts: i64,
        sealed: bool,
    ) -> SegmentInfo {
        SegmentInfo {
            base_offset: base,
            next_offset: next,
            size_bytes: size,
            max_timestamp_ms: max_ts,
            sealed,
        }
    }

    fn config(retention_ms: Option<u64>, retention_bytes: Option<u64>) -> TopicConfig {
        TopicConfig {
            retention_ms,
            retention_bytes,
            ..TopicConfig::for_tests()
        }
    }

    fn log() -> Vec<SegmentInfo> {
        vec![
            segment(0, 10, 100, 1_000, true),
            segment(10, 20, 100, 5_000, true),
            segment(20, 30, 100, 2_000, true),
            segment(30, 35, 50, 9_000, false),
        ]
    }

    #[test]
    fn time_retention_stops_at_the_first_segment_still_young() {
        let point = retention_point(&log(), &config(Some(4_000), None), 7_000);
        // Segment 20 is old too, but segment 10 before it is not: deletion is a prefix.
        assert_eq!(point, Some((10, RetentionReason::Time)));
        assert_eq!(
            retention_point(&log(), &config(Some(10_000), None), 7_000),
            None
        );
    }

    #[test]
    fn size_retention_deletes_oldest_until_within_the_limit() {
        // 350 bytes in all; at most 200: the two oldest go (150 left).
        let point = retention_point(&log(), &config(None, Some(200)), 0);
        assert_eq!(point, Some((20, RetentionReason::Size)));
        assert_eq!(retention_point(&log(), &config(None, Some(350)), 0), None);
        // Never the active segment, however large.
        let point = retention_point(&log(), &config(None, Some(1)), 0);
        assert_eq!(point, Some((30, RetentionReason::Size)));
    }

    #[test]
    fn time_retention_stops_at_a_segment_stamped_in_the_future() {
        let log = vec![
            segment(0, 10, 100, 1_000, true),
            segment(10, 20, 100, i64::MAX, true),
            segment(20, 30, 100, 2_000, true),
            segment(30, 35, 50, 3_000, false),
        ];
        let point = retention_point(&log, &config(Some(1_000), None), 100_000);
        assert_eq!(point, Some((10, RetentionReason::Time)));
        let held = future_segment::holding_back(&log, 10, 100_000, 99_000);
        assert_eq!(held.map(|s| s.base_offset), Some(10));
    }

    #[test]
    fn the_further_of_both_limits_wins() {
        let point = retention_point(&log(), &config(Some(4_000), Some(200)), 7_000);
        assert_eq!(point, Some((20, RetentionReason::Size)));
    }
}
