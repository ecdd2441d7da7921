//! A sealed segment whose newest record is stamped in the future holds time retention
//! of its partition back: deletion is a prefix of the log, so neither it nor any segment
//! after it goes before its timestamp has passed. Timestamp bounds on produce keep new
//! records from doing this; data written before them (or with wide bounds) still can,
//! so retention warns, naming the segment, at most once per [`WARN_INTERVAL`] per
//! partition (the cleaner looks every tick, five times a second by default).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::storage::{LogIdent, SegmentInfo};

/// Least time between two warnings about the same partition.
pub const WARN_INTERVAL: Duration = Duration::from_secs(600);

/// When each partition was last warned about.
static LAST_WARNED: Mutex<Option<HashMap<String, Instant>>> = Mutex::new(None);

/// The sealed segment that stops time retention at `kept_from` (the first offset
/// retention keeps) because its newest record lies after `now_ms`, when a later sealed
/// segment would otherwise be due (older than `cutoff_ms`).
pub fn holding_back(
    segments: &[SegmentInfo],
    kept_from: u64,
    now_ms: i64,
    cutoff_ms: i64,
) -> Option<SegmentInfo> {
    let mut kept = segments
        .iter()
        .take_while(|s| s.sealed)
        .skip_while(|s| s.next_offset <= kept_from);
    let first = kept.next().filter(|s| s.max_timestamp_ms > now_ms)?;
    kept.any(|s| s.max_timestamp_ms < cutoff_ms)
        .then_some(*first)
}

/// Logs that `segment` holds back retention of `partition`, unless that was logged
/// for the partition less than [`WARN_INTERVAL`] ago.
pub fn warn(partition: &LogIdent, segment: &SegmentInfo, now_ms: i64) {
    if !due(&partition.to_string(), Instant::now()) {
        return;
    }
    tracing::warn!(
        %partition,
        base_offset = segment.base_offset,
        max_timestamp_ms = segment.max_timestamp_ms,
        ahead_ms = segment.max_timestamp_ms.saturating_sub(now_ms),
        "time retention is held back by a segment whose newest record is stamped in the future; \
         it and the segments after it are kept until that time (bound producer timestamps \
         with message_timestamp_after_max_ms)"
    );
}

/// Whether a warning about `key` may be logged at `now`; remembers it if so.
fn due(key: &str, now: Instant) -> bool {
    let mut guard = LAST_WARNED.lock().unwrap_or_else(PoisonError::into_inner);
    let last = guard.get_or_insert_with(HashMap::new);
    // Forget partitions not warned about for a while (deleted topics among them).
    last.retain(|_, at| now.duration_since(*at) < WARN_INTERVAL);
    if last.contains_key(key) {
        return false;
    }
    last.insert(key.to_string(), now);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::retention::tests::segment;

    #[test]
    fn a_future_segment_with_due_segments_behind_it_is_named() {
        let log = [
            segment(0, 10, 100, 1_000, true),
            segment(10, 20, 100, i64::MAX, true),
            segment(20, 30, 100, 2_000, true),
            segment(30, 35, 50, 3_000, false),
        ];
        let held = holding_back(&log, 10, 10_000, 5_000).unwrap();
        assert_eq!(held.base_offset, 10);
        // Nothing due behind it (only the active segment, which retention never takes).
        assert_eq!(holding_back(&log[..2], 10, 10_000, 5_000), None);
        // Not in the future: an ordinary young segment, no warning.
        assert_eq!(holding_back(&log, 10, i64::MAX, 5_000), None);
    }

    #[test]
    fn a_partition_is_warned_about_once_per_interval() {
        let start = Instant::now();
        let key = "rate-limit-test/0";
        assert!(due(key, start));
        assert!(!due(key, start + Duration::from_secs(1)));
        assert!(!due(key, start + WARN_INTERVAL - Duration::from_millis(1)));
        assert!(due(key, start + WARN_INTERVAL));
        assert!(due("rate-limit-test/1", start + WARN_INTERVAL));
    }
}
