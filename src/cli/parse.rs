//! Parsers for flag values: sizes, durations, times, headers and start positions.
//! Each returns a message that names the accepted forms.

use std::time::{Duration, UNIX_EPOCH};

/// Parses a byte size: a number with an optional unit. `K`/`KiB`, `M`/`MiB`, `G`/`GiB`,
/// `T`/`TiB` are powers of 1024; `KB`, `MB`, `GB`, `TB` are powers of 1000
/// (case-insensitive). `1GiB`, `64m`, `1000000` are all accepted.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size like 512MiB or 1048576"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        other => {
            return Err(format!(
                "unknown size unit {other:?} (use B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)"
            ));
        }
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("size {text:?} is too large"))
}

/// Parses the cap on memory-mapped sealed segments: a whole number of at least 1.
pub fn parse_max_open_segments(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1 (it caps the segments kept mapped)".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{text:?} is not a whole number like 1024")),
    }
}

/// Parses a duration such as `10s`, `7d`, `12h 30m` or `250ms`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|err| format!("{text:?} is not a duration like 7d or 10s: {err}"))
}

/// Parses an RFC 3339 time into milliseconds since the Unix epoch. Accepts `Z` or a
/// numeric offset (`+02:00`), and a space instead of `T`: `2026-11-23T10:00:00Z`,
/// `2026-11-23T12:00:00.250+02:00`.
pub fn parse_time_ms(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not an RFC 3339 time like 2026-11-23T10:00:00Z");
    let (local, offset_secs) = split_offset(text.trim()).ok_or_else(bad)?;
    let time = humantime::parse_rfc3339_weak(local).map_err(|_| bad())?;
    let millis = match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).map_err(|_| bad())?,
        Err(before) => -i64::try_from(before.duration().as_millis()).map_err(|_| bad())?,
    };
    Ok(millis - offset_secs * 1000)
}

/// Splits a trailing `Z` or `±HH:MM` from an RFC 3339 time; no suffix means UTC.
fn split_offset(text: &str) -> Option<(&str, i64)> {
    if let Some(local) = text.strip_suffix(['Z', 'z']) {
        return Some((local, 0));
    }
    let bytes = text.as_bytes();
    let n = bytes.len();
    // A date alone is 10 characters; an offset needs a time before it.
    if n > 16 && matches!(bytes[n - 6], b'+' | b'-') && bytes[n - 3] == b':' {
        let hours: i64 = text.get(n - 5..n - 3)?.parse().ok()?;
        let minutes: i64 = text.get(n - 2..)?.parse().ok()?;
        let sign = if bytes[n - 6] == b'-' { -1 } else { 1 };
        return Some((&text[..n - 6], sign * (hours * 3600 + minutes * 60)));
    }
    Some((text, 0))
}

/// Parses a `key=value` header.
pub fn parse_header(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("header {text:?} is not of the form key=value")),
    }
}

/// Where `consume` starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    /// The first record.
    Earliest,
    /// Only new records.
    Latest,
    /// An offset.
    Offset(u64),
    /// The first record at or after a time (ms since the epoch).
    Time(i64),
}

/// Parses `earliest`, `latest`, an offset, or an RFC 3339 time.
pub fn parse_from(text: &str) -> Result<StartFrom, String> {
    match text {
        "earliest" => Ok(StartFrom::Earliest),
        "latest" => Ok(StartFrom::Latest),
        _ if text.bytes().all(|b| b.is_ascii_digit()) && !text.is_empty() => text
            .parse()
            .map(StartFrom::Offset)
            .map_err(|_| format!("offset {text:?} is too large")),
        _ => parse_time_ms(text).map(StartFrom::Time).map_err(|_| {
            format!("{text:?} is not earliest, latest, an offset, or an RFC 3339 time")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_open_segments_must_be_positive() {
        assert_eq!(parse_max_open_segments("16"), Ok(16));
        assert!(
            parse_max_open_segments("0")
                .unwrap_err()
                .contains("at least 1")
        );
        assert!(parse_max_open_segments("-3").is_err());
        assert!(parse_max_open_segments("many").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("64m"), Ok(64 << 20));
        assert_eq!(parse_size("5 MB"), Ok(5_000_000));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3 parsecs").is_err());
        assert!(parse_size("99999999999TiB").is_err());
    }

    #[test]
    fn times_with_zone_or_offset() {
        let utc = parse_time_ms("2026-11-23T10:00:00Z").unwrap();
        assert_eq!(utc, 1_795_428_000_000);
        assert_eq!(parse_time_ms("2026-11-23T12:00:00+02:00"), Ok(utc));
        assert_eq!(parse_time_ms("2026-11-23T09:30:00-00:30"), Ok(utc));
        assert_eq!(parse_time_ms("2026-11-23T10:00:00.250Z"), Ok(utc + 250));
        assert_eq!(parse_time_ms("2026-11-23 10:00:00"), Ok(utc));
        assert!(parse_time_ms("yesterday").is_err());
    }

    #[test]
    fn start_positions() {
        assert_eq!(parse_from("earliest"), Ok(StartFrom::Earliest));
        assert_eq!(parse_from("latest"), Ok(StartFrom::Latest));
        assert_eq!(parse_from("42"), Ok(StartFrom::Offset(42)));
        assert_eq!(
            parse_from("1970-01-01T00:00:01Z"),
            Ok(StartFrom::Time(1000))
        );
        assert!(parse_from("soon").is_err());
    }

    #[test]
    fn headers() {
        assert_eq!(parse_header("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(parse_header("novalue").is_err());
        assert!(parse_header("=x").is_err());
    }
}
