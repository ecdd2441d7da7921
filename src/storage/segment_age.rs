//! The active segment's age, which `segment_max_age` rolls on, and where it starts
//! after a restart.
//!
//! While the process runs, the age starts at the first append into the segment. That
//! instant is not stored, and restarting the age at every open would keep a partition
//! that restarts more often than `segment_max_age` from ever rolling (so time retention
//! never reaches its data). On open it is estimated from what is stored:
//! - the segment file's creation time (its birth time, kept by the file system): the
//!   first append came at or after it;
//! - the first record's timestamp, when it lies between that creation and now: then it
//!   is the first append's time (the service stamps records with the server's clock
//!   when producers do not). A producer's old timestamp cannot make the segment older
//!   than its file (every batch would roll its own segment), and a future one cannot
//!   push the start past now.
//!
//! So the start is `max(created, min(first_timestamp, now))`: never later than the true
//! first append unless the producer's clock runs ahead, and never earlier than the
//! file's creation. Without a birth time (some file systems), the age starts at the
//! open, as it did before.

use std::time::{Duration, SystemTime};

/// Where the age of a recovered active segment starts: `None` for an empty segment
/// (its age starts at its first append); `now` when the file system keeps no birth
/// time. See the module documentation.
pub fn recovered_start(
    created: Option<SystemTime>,
    first_timestamp_ms: Option<i64>,
    now: SystemTime,
) -> Option<SystemTime> {
    let first_ms = u64::try_from(first_timestamp_ms?).unwrap_or(0);
    let Some(created) = created else {
        return Some(now);
    };
    let first = SystemTime::UNIX_EPOCH
        .checked_add(Duration::from_millis(first_ms))
        .map_or(now, |first| first.min(now));
    Some(created.max(first).min(now))
}

/// Whether a segment whose age started at `start` is at least `max_age` old. A clock
/// set back makes it younger, never an error.
pub fn is_older_than(start: SystemTime, max_age: Duration) -> bool {
    start.elapsed().is_ok_and(|age| age >= max_age)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn the_first_records_time_counts_when_it_lies_between_creation_and_now() {
        let (created, now) = (at(1_000_000), at(1_000_000) + 5 * HOUR);
        let first = 1_000_000_000 + 3600 * 1000;
        assert_eq!(
            recovered_start(Some(created), Some(first), now),
            Some(created + HOUR)
        );
    }

    #[test]
    fn an_old_producer_timestamp_counts_from_the_files_creation() {
        let (created, now) = (at(1_000_000), at(1_000_000) + HOUR);
        assert_eq!(recovered_start(Some(created), Some(0), now), Some(created));
        assert_eq!(recovered_start(Some(created), Some(-5), now), Some(created));
    }

    #[test]
    fn a_future_timestamp_starts_no_later_than_now() {
        let (created, now) = (at(1_000_000), at(1_000_000) + HOUR);
        assert_eq!(
            recovered_start(Some(created), Some(i64::MAX), now),
            Some(now)
        );
    }

    #[test]
    fn an_empty_segment_or_no_birth_time() {
        let now = at(2_000_000);
        assert_eq!(recovered_start(Some(at(1)), None, now), None);
        assert_eq!(recovered_start(None, Some(5), now), Some(now));
    }
}
