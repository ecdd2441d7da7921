//! eventlog's topic configuration under Kafka's config names, for DescribeConfigs and
//! IncrementalAlterConfigs: each name, how its value reads from a
//! [`TopicConfig`], and how a new value becomes a change of one field.
//!
//! | Kafka name | field | "no value" reads as |
//! |---|---|---|
//! | `retention.ms`, `retention.bytes` | `retention_ms`, `retention_bytes` | -1 (no limit) |
//! | `segment.bytes` | `segment_bytes` | (always set) |
//! | `segment.ms` | `segment_ms` | the age the topic rolls at (see [`TopicConfig::log_config`]), or Long.MAX when it never rolls by age |
//! | `cleanup.policy` | `cleanup_policy` | `delete` |
//! | `delete.retention.ms` | `delete_retention_ms` | 86400000 |
//! | `min.cleanable.dirty.ratio` | `min_cleanable_dirty_ratio` | 0.5 |
//! | `message.timestamp.before.max.ms` | `message_timestamp_before_max_ms` | Long.MAX (no bound) |
//! | `message.timestamp.after.max.ms` | `message_timestamp_after_max_ms` | 3600000 |
//! | `max.message.bytes` | read-only: the largest batch a partition accepts | |
//! | `compression.type` | read-only: `producer` (batches are stored as produced) | |
//!
//! Setting `retention.ms` or `retention.bytes` to -1 removes the limit; DELETE (Kafka's
//! "return to the default") resets a field as `eventlog topic alter NAME --FIELD
//! default` does. `cleanup.policy` holds one policy here, so `compact,delete` and the
//! list operations APPEND and SUBTRACT are refused.

use crate::broker::{CleanupPolicy, DirtyRatio, Setting, TopicConfig, TopicConfigUpdate};
use crate::storage::FsyncPolicy;

/// Kafka's type of a config value (`ConfigType` in DescribeConfigs version 3+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    /// A 32-bit integer.
    Int = 3,
    /// A 64-bit integer.
    Long = 5,
    /// A floating point number.
    Double = 6,
    /// A string.
    Str = 2,
    /// A comma-separated list.
    List = 7,
}

/// One topic config as DescribeConfigs reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Kafka's name.
    pub name: &'static str,
    /// The value, as Kafka writes it.
    pub value: String,
    /// Whether the topic leaves it at its default.
    pub default: bool,
    /// Whether it cannot be changed.
    pub read_only: bool,
    /// Its type.
    pub kind: ConfigType,
}

/// Kafka's `Long.MAX_VALUE`, its way of saying "unbounded".
const LONG_MAX: u64 = i64::MAX as u64;

/// Every config of a topic with `config`; `default_segment_bytes` is the server's.
pub fn describe(config: &TopicConfig, default_segment_bytes: u64) -> Vec<Entry> {
    let limit = |v: Option<u64>| v.map_or_else(|| "-1".to_string(), |v| v.to_string());
    let log = config.log_config(FsyncPolicy::Never);
    let rolling_age = log.segment_max_age.map_or(LONG_MAX, |age| {
        u64::try_from(age.as_millis()).unwrap_or(LONG_MAX)
    });
    let entry = |name, value: String, default, kind| Entry {
        name,
        value,
        default,
        read_only: false,
        kind,
    };
    use ConfigType::*;
    vec![
        entry(
            "retention.ms",
            limit(config.retention_ms),
            config.retention_ms.is_none(),
            Long,
        ),
        entry(
            "retention.bytes",
            limit(config.retention_bytes),
            config.retention_bytes.is_none(),
            Long,
        ),
        entry(
            "segment.bytes",
            config.segment_bytes.to_string(),
            config.segment_bytes == default_segment_bytes,
            Int,
        ),
        entry(
            "segment.ms",
            rolling_age.to_string(),
            config.segment_ms.is_none(),
            Long,
        ),
        entry(
            "cleanup.policy",
            policy_name(config.cleanup_policy).to_string(),
            config.cleanup_policy == CleanupPolicy::default(),
            List,
        ),
        entry(
            "delete.retention.ms",
            config.delete_retention().as_millis().to_string(),
            config.delete_retention_ms.is_none(),
            Long,
        ),
        entry(
            "min.cleanable.dirty.ratio",
            config.dirty_ratio().get().to_string(),
            config.min_cleanable_dirty_ratio.is_none(),
            Double,
        ),
        entry(
            "message.timestamp.before.max.ms",
            config
                .message_timestamp_before_max_ms
                .unwrap_or(LONG_MAX)
                .to_string(),
            config.message_timestamp_before_max_ms.is_none(),
            Long,
        ),
        entry(
            "message.timestamp.after.max.ms",
            config.timestamp_after_max_ms().to_string(),
            config.message_timestamp_after_max_ms.is_none(),
            Long,
        ),
        Entry {
            read_only: true,
            ..entry(
                "max.message.bytes",
                log.max_batch_bytes.to_string(),
                true,
                Int,
            )
        },
        Entry {
            read_only: true,
            ..entry("compression.type", "producer".into(), true, Str)
        },
    ]
}

fn policy_name(policy: CleanupPolicy) -> &'static str {
    match policy {
        CleanupPolicy::Delete => "delete",
        CleanupPolicy::Compact => "compact",
    }
}

/// IncrementalAlterConfigs' operations.
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

/// Adds the change of config `name` by `operation` (with `value`) to `update`; the
/// error says why it cannot be made (an INVALID_CONFIG).
pub fn change(
    update: &mut TopicConfigUpdate,
    name: &str,
    operation: i8,
    value: Option<&str>,
) -> Result<(), String> {
    match operation {
        SET | DELETE => {}
        APPEND | SUBTRACT => {
            return Err(format!(
                "{name}: APPEND and SUBTRACT change list configs, and cleanup.policy holds one policy here; use SET"
            ));
        }
        other => return Err(format!("{name}: unknown operation {other}")),
    }
    let value = value.unwrap_or("");
    let set = operation == SET;
    let bad = || format!("invalid value {value:?} for {name}");
    let number = || value.parse::<u64>().map_err(|_| bad());
    // A limit: -1 (Kafka's "none") resets it.
    let limit = || -> Result<Setting<u64>, String> {
        match value.parse::<i64>().map_err(|_| bad())? {
            -1 => Ok(Setting::Reset),
            n => u64::try_from(n).map(Setting::Set).map_err(|_| bad()),
        }
    };
    let or_reset = |setting: Result<Setting<u64>, String>| match set {
        true => setting,
        false => Ok(Setting::Reset),
    };
    let numeric = || or_reset(number().map(Setting::Set));
    match name {
        "retention.ms" => update.retention_ms = or_reset(limit())?,
        "retention.bytes" => update.retention_bytes = or_reset(limit())?,
        "segment.bytes" => update.segment_bytes = numeric()?,
        "segment.ms" => update.segment_ms = numeric()?,
        "delete.retention.ms" => update.delete_retention_ms = numeric()?,
        "message.timestamp.before.max.ms" => {
            update.message_timestamp_before_max_ms = numeric()?;
        }
        "message.timestamp.after.max.ms" => update.message_timestamp_after_max_ms = numeric()?,
        "min.cleanable.dirty.ratio" => {
            update.min_cleanable_dirty_ratio = match set {
                true => Setting::Set(DirtyRatio::new(value.parse().map_err(|_| bad())?)?),
                false => Setting::Reset,
            };
        }
        "cleanup.policy" => {
            update.cleanup_policy = match (set, value) {
                (false, _) => Setting::Reset,
                (true, "delete") => Setting::Set(CleanupPolicy::Delete),
                (true, "compact") => Setting::Set(CleanupPolicy::Compact),
                (true, _) => return Err(format!("{}: delete or compact", bad())),
            };
        }
        "max.message.bytes" | "compression.type" => {
            return Err(format!("{name} is read-only here"));
        }
        other => return Err(format!("topic config {other} is not supported")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> TopicConfig {
        TopicConfig {
            retention_ms: Some(60_000),
            retention_bytes: None,
            segment_bytes: 1 << 20,
            cleanup_policy: CleanupPolicy::Compact,
            delete_retention_ms: None,
            min_cleanable_dirty_ratio: None,
            segment_ms: None,
            message_timestamp_before_max_ms: None,
            message_timestamp_after_max_ms: Some(1000),
        }
    }

    fn value_of(entries: &[Entry], name: &str) -> (String, bool) {
        let entry = entries.iter().find(|e| e.name == name).expect(name);
        (entry.value.clone(), entry.default)
    }

    #[test]
    fn fields_read_under_kafka_names_with_defaults_marked() {
        let entries = describe(&config(), 1 << 30);
        assert_eq!(value_of(&entries, "retention.ms"), ("60000".into(), false));
        assert_eq!(value_of(&entries, "retention.bytes"), ("-1".into(), true));
        assert_eq!(
            value_of(&entries, "segment.bytes"),
            ("1048576".into(), false)
        );
        assert_eq!(
            value_of(&entries, "cleanup.policy"),
            ("compact".into(), false)
        );
        // A compact topic rolls its active segment at seven days by default.
        assert_eq!(value_of(&entries, "segment.ms"), ("604800000".into(), true));
        assert_eq!(
            value_of(&entries, "delete.retention.ms"),
            ("86400000".into(), true)
        );
        assert_eq!(
            value_of(&entries, "message.timestamp.after.max.ms"),
            ("1000".into(), false)
        );
        assert_eq!(
            value_of(&entries, "message.timestamp.before.max.ms"),
            (i64::MAX.to_string(), true)
        );
        let read_only: Vec<&str> = entries
            .iter()
            .filter(|e| e.read_only)
            .map(|e| e.name)
            .collect();
        assert_eq!(read_only, ["max.message.bytes", "compression.type"]);
    }

    #[test]
    fn set_and_delete_become_field_changes_and_the_rest_is_refused() {
        let mut update = TopicConfigUpdate::default();
        change(&mut update, "retention.ms", SET, Some("-1")).unwrap();
        change(&mut update, "retention.bytes", SET, Some("4096")).unwrap();
        change(&mut update, "cleanup.policy", SET, Some("compact")).unwrap();
        change(&mut update, "segment.ms", DELETE, None).unwrap();
        change(&mut update, "min.cleanable.dirty.ratio", SET, Some("0.25")).unwrap();
        assert_eq!(update.retention_ms, Setting::Reset);
        assert_eq!(update.retention_bytes, Setting::Set(4096));
        assert_eq!(update.cleanup_policy, Setting::Set(CleanupPolicy::Compact));
        assert_eq!(update.segment_ms, Setting::Reset);
        assert_eq!(
            update.min_cleanable_dirty_ratio,
            Setting::Set(DirtyRatio::new(0.25).unwrap())
        );
        for (name, operation, value) in [
            ("cleanup.policy", SET, "compact,delete"),
            ("cleanup.policy", APPEND, "compact"),
            ("retention.ms", SET, "-5"),
            ("segment.bytes", SET, "lots"),
            ("min.cleanable.dirty.ratio", SET, "2"),
            ("max.message.bytes", SET, "1"),
            ("unclean.leader.election.enable", SET, "true"),
            ("retention.ms", 9, "1"),
        ] {
            let mut update = TopicConfigUpdate::default();
            assert!(
                change(&mut update, name, operation, Some(value)).is_err(),
                "{name} {operation} {value}"
            );
        }
    }
}
