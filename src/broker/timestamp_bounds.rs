//! Bounds on producer timestamps (Kafka's `message.timestamp.before.max.ms` and
//! `message.timestamp.after.max.ms`): a record stamped far in the future would hold
//! time retention of its partition back until then, and one stamped far in the past
//! would have its segment deleted as soon as it is sealed. A produce request with a
//! record outside the window is refused whole, before anything is appended.

use std::fmt;
use std::time::Duration;

use super::error::BrokerError;
use super::topic_config::TopicConfig;
use crate::storage::Record;

/// How far ahead of the broker's clock a record may be stamped when the topic does not
/// say (Kafka 4.0's `message.timestamp.after.max.ms` default): room for clock skew
/// between producers and the server, not for dates years ahead.
pub const DEFAULT_TIMESTAMP_AFTER_MAX: Duration = Duration::from_secs(3600);

/// The timestamps a topic accepts at one moment, in ms since the epoch, both ends
/// included; `None` is no bound on that side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampWindow {
    /// The oldest accepted timestamp.
    pub earliest_ms: Option<i64>,
    /// The newest accepted timestamp.
    pub latest_ms: Option<i64>,
}

impl TimestampWindow {
    /// The window of a topic with `config` when the broker's clock reads `now_ms`.
    pub fn of(config: &TopicConfig, now_ms: i64) -> TimestampWindow {
        // As in Kafka, a bound of i64::MAX ms (Long.MAX_VALUE) or more is no bound.
        let bound = |ms: u64| i64::try_from(ms).ok().filter(|ms| *ms < i64::MAX);
        TimestampWindow {
            earliest_ms: config
                .message_timestamp_before_max_ms
                .and_then(bound)
                .map(|ms| now_ms.saturating_sub(ms)),
            latest_ms: bound(config.timestamp_after_max_ms()).map(|ms| now_ms.saturating_add(ms)),
        }
    }

    /// Whether `timestamp_ms` lies in the window.
    pub fn contains(&self, timestamp_ms: i64) -> bool {
        self.earliest_ms.is_none_or(|e| timestamp_ms >= e)
            && self.latest_ms.is_none_or(|l| timestamp_ms <= l)
    }

    /// Refuses `records` of `topic` if one lies outside the window, naming the first
    /// such record by its index in the request.
    pub fn check(&self, topic: &str, records: &[Record]) -> Result<(), BrokerError> {
        match records.iter().position(|r| !self.contains(r.timestamp_ms)) {
            None => Ok(()),
            Some(index) => Err(BrokerError::TimestampOutOfRange {
                topic: topic.to_string(),
                index,
                timestamp_ms: records[index].timestamp_ms,
                window: *self,
            }),
        }
    }
}

impl fmt::Display for TimestampWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.earliest_ms {
            Some(ms) => write!(f, "{ms}")?,
            None => f.write_str("any time")?,
        }
        f.write_str(" to ")?;
        match self.latest_ms {
            Some(ms) => write!(f, "{ms}"),
            None => f.write_str("any time"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(before: Option<u64>, after: Option<u64>) -> TopicConfig {
        TopicConfig {
            message_timestamp_before_max_ms: before,
            message_timestamp_after_max_ms: after,
            ..TopicConfig::for_tests()
        }
    }

    fn at(timestamp_ms: i64) -> Record {
        Record {
            timestamp_ms,
            ..Record::default()
        }
    }

    const NOW: i64 = 1_700_000_000_000;
    const HOUR: i64 = 3_600_000;

    #[test]
    fn by_default_the_past_is_open_and_the_future_ends_after_an_hour() {
        let window = TimestampWindow::of(&config(None, None), NOW);
        assert!(window.contains(0) && window.contains(i64::MIN));
        assert!(window.contains(NOW + HOUR));
        assert!(!window.contains(NOW + HOUR + 1));
        assert!(!window.contains(i64::MAX));
    }

    #[test]
    fn configured_bounds_apply_and_saturate() {
        let window = TimestampWindow::of(&config(Some(1000), Some(0)), NOW);
        assert!(window.contains(NOW - 1000) && window.contains(NOW));
        assert!(!window.contains(NOW - 1001) && !window.contains(NOW + 1));
        let unbounded = TimestampWindow::of(&config(Some(u64::MAX), Some(u64::MAX)), NOW);
        assert!(unbounded.contains(i64::MIN) && unbounded.contains(i64::MAX));
    }

    #[test]
    fn the_first_record_outside_is_named_with_the_window() {
        let window = TimestampWindow::of(&config(None, None), NOW);
        let records = [at(NOW), at(0), at(i64::MAX), at(NOW + 2 * HOUR)];
        let err = window.check("orders", &records).unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(err, BrokerError::TimestampOutOfRange { index: 2, .. }),
            "{message}"
        );
        assert!(message.contains(&i64::MAX.to_string()), "{message}");
        assert!(
            message.contains(&format!("any time to {}", NOW + HOUR)),
            "{message}"
        );
        assert!(window.check("orders", &records[..2]).is_ok());
    }
}
