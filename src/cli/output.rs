//! What client commands print on stdout: aligned tables for people, one JSON object per
//! line for scripts. Bytes that are valid UTF-8 print as text; other bytes print as hex
//! (`key_hex`/`value_hex` in JSON, `0x…` in tables).

use std::io::{self, Write};
use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::proto::v1 as pb;

/// Output format of client commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned, human-readable tables.
    Text,
    /// One JSON object per line.
    Json,
}

/// Writes `rows` under `headers` with columns padded to their widest cell.
pub fn write_table(out: &mut impl Write, headers: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        writeln!(out, "{}", cells.join("  ").trim_end())?;
    }
    Ok(())
}

/// Writes one JSON value on its own line.
pub fn write_json(out: &mut impl Write, value: &Value) -> io::Result<()> {
    writeln!(out, "{value}")
}

/// A timestamp in milliseconds as RFC 3339 UTC with milliseconds.
pub fn format_time_ms(timestamp_ms: i64) -> String {
    match u64::try_from(timestamp_ms) {
        Ok(ms) => {
            humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
        }
        Err(_) => format!("{timestamp_ms}ms"),
    }
}

/// A byte size as a user would type it for a size flag: the largest unit that divides it
/// exactly (`1GiB`, `512MiB`, `10GB`), else bytes (`1500B`). It parses back to the same
/// number with [`parse_size`](super::parse::parse_size).
pub fn format_size(bytes: u64) -> String {
    // Largest first, so the number is the shortest exact one.
    const UNITS: [(u64, &str); 8] = [
        (1 << 40, "TiB"),
        (1_000_000_000_000, "TB"),
        (1 << 30, "GiB"),
        (1_000_000_000, "GB"),
        (1 << 20, "MiB"),
        (1_000_000, "MB"),
        (1 << 10, "KiB"),
        (1_000, "KB"),
    ];
    UNITS
        .iter()
        .find(|(unit, _)| bytes != 0 && bytes.is_multiple_of(*unit))
        .map_or_else(
            || format!("{bytes}B"),
            |(unit, name)| format!("{}{name}", bytes / unit),
        )
}

/// A duration in milliseconds as a user would type it for a duration flag: `7d`,
/// `12h 30m`, `250ms` (`0s` for none). It parses back to the same number with
/// [`parse_duration`](super::parse::parse_duration).
pub fn format_duration_ms(ms: u64) -> String {
    const UNITS: [(u64, &str); 5] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
        (1, "ms"),
    ];
    let mut rest = ms;
    let mut parts = Vec::new();
    for (unit, name) in UNITS {
        if rest >= unit {
            parts.push(format!("{}{name}", rest / unit));
            rest %= unit;
        }
    }
    match parts.is_empty() {
        true => "0s".to_string(),
        false => parts.join(" "),
    }
}

/// Bytes for a table cell: UTF-8 text with control characters escaped, else `0x` hex.
pub fn display_bytes(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.chars().map(escape_control).collect(),
        Err(_) => format!("0x{}", hex(bytes)),
    }
}

/// Control characters (newlines, tabs, ...) would break the table's lines.
fn escape_control(c: char) -> String {
    if c.is_control() {
        c.escape_default().to_string()
    } else {
        c.to_string()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Adds `name` (UTF-8) or `name_hex` to a JSON object; `null` when absent.
fn put_bytes(object: &mut Map<String, Value>, name: &str, bytes: Option<&[u8]>) {
    let (field, value) = match bytes {
        None => (name.to_string(), Value::Null),
        Some(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => (name.to_string(), Value::String(text.to_string())),
            Err(_) => (format!("{name}_hex"), Value::String(hex(bytes))),
        },
    };
    object.insert(field, value);
}

/// A stored record as a JSON object.
pub fn record_json(record: &pb::StoredRecord) -> Value {
    let mut object = Map::new();
    object.insert("partition".into(), json!(record.partition));
    object.insert("offset".into(), json!(record.offset));
    object.insert("timestamp_ms".into(), json!(record.timestamp_ms));
    object.insert("time".into(), json!(format_time_ms(record.timestamp_ms)));
    put_bytes(&mut object, "key", record.key.as_deref());
    put_bytes(&mut object, "value", record.value.as_deref());
    let headers: Vec<Value> = record
        .headers
        .iter()
        .map(|h| {
            let mut header = Map::new();
            header.insert("key".into(), json!(h.key));
            put_bytes(&mut header, "value", Some(&h.value));
            Value::Object(header)
        })
        .collect();
    object.insert("headers".into(), Value::Array(headers));
    Value::Object(object)
}

/// Column titles of [`record_row`].
pub const RECORD_HEADERS: [&str; 5] = ["PARTITION", "OFFSET", "TIME", "KEY", "VALUE"];

/// A stored record as table cells (a missing key is `-`, a tombstone `<tombstone>`).
pub fn record_row(record: &pb::StoredRecord) -> Vec<String> {
    vec![
        record.partition.to_string(),
        record.offset.to_string(),
        format_time_ms(record.timestamp_ms),
        record
            .key
            .as_deref()
            .map_or_else(|| "-".to_string(), display_bytes),
        record
            .value
            .as_deref()
            .map_or_else(|| "<tombstone>".to_string(), display_bytes),
    ]
}

/// True when `err` comes from writing to a closed pipe (`eventlog consume … | head`),
/// which is a normal way for a reader to stop, not an error.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|cause| cause.downcast_ref::<io::Error>())
        .any(|io| io.kind() == io::ErrorKind::BrokenPipe)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::cli::parse::{parse_duration, parse_size};

    #[test]
    fn tables_align_columns() {
        let mut out = Vec::new();
        let rows = vec![
            vec!["orders".to_string(), "3".to_string()],
            vec!["x".to_string(), "10".to_string()],
        ];
        write_table(&mut out, &["NAME", "PARTITIONS"], &rows).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, "NAME    PARTITIONS\norders  3\nx       10\n");
    }

    #[test]
    fn sizes_and_durations_print_as_flags_take_them() {
        assert_eq!(format_size(1 << 30), "1GiB");
        assert_eq!(format_size(10 << 30), "10GiB");
        assert_eq!(format_size(1536 << 10), "1536KiB");
        assert_eq!(format_size(10_000_000_000), "10GB");
        assert_eq!(format_size(1500), "1500B");
        assert_eq!(format_size(0), "0B");
        assert_eq!(format_duration_ms(7 * 86_400_000), "7d");
        assert_eq!(format_duration_ms(12 * 3_600_000 + 30 * 60_000), "12h 30m");
        assert_eq!(format_duration_ms(86_400_000 + 1), "1d 1ms");
        assert_eq!(format_duration_ms(250), "250ms");
        assert_eq!(format_duration_ms(0), "0s");
    }

    proptest! {
        #[test]
        fn printed_sizes_parse_back(bytes in prop_oneof![
            any::<u64>(),
            (0u64..1 << 20, 0u32..4).prop_map(|(n, shift)| n << (10 * shift)),
            (0u64..1 << 20, 0u32..4).prop_map(|(n, power)| n * 1000u64.pow(power)),
        ]) {
            let printed = format_size(bytes);
            prop_assert_eq!(parse_size(&printed), Ok(bytes), "{}", printed);
        }

        #[test]
        fn printed_durations_parse_back(ms in prop_oneof![
            0u64..u64::MAX / 2,
            (0u64..10_000, 0usize..5).prop_map(|(n, unit)| n * [1, 1_000, 60_000, 3_600_000, 86_400_000][unit]),
        ]) {
            let printed = format_duration_ms(ms);
            let parsed = parse_duration(&printed).map(|d| d.as_millis());
            prop_assert_eq!(parsed, Ok(u128::from(ms)), "{}", printed);
        }
    }

    #[test]
    fn bytes_print_as_text_or_hex() {
        assert_eq!(display_bytes(b"hello \"you\"\n"), "hello \"you\"\\n");
        assert_eq!(display_bytes(&[0xff, 0x00]), "0xff00");
        let record = pb::StoredRecord {
            partition: 1,
            offset: 7,
            timestamp_ms: 1000,
            key: Some(bytes::Bytes::from_static(&[0xff])),
            value: None,
            headers: vec![],
        };
        let json = record_json(&record);
        assert_eq!(json["key_hex"], "ff");
        assert_eq!(json["value"], Value::Null);
        assert_eq!(json["time"], "1970-01-01T00:00:01.000Z");
        assert_eq!(record_row(&record)[4], "<tombstone>");
    }
}
