//! `eventlog topic alter NAME`: changes a topic's config on a running server. Each flag
//! sets its field; the value `default` returns the field to its default (for retention
//! limits: none, so records are kept forever).

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::output::{Format, write_json, write_table};
use super::parse::{parse_duration, parse_size};
use super::topic::{Cleanup, SUMMARY_HEADERS, summary_json, summary_row};
use super::{ClientArgs, rpc_error};
use crate::proto::v1 as pb;

/// A new value for one field, or back to its default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change<T> {
    /// Set this value.
    Set(T),
    /// Return to the default.
    Default,
}

/// Arguments of `topic alter`.
#[derive(Debug, Args)]
pub struct AlterArgs {
    /// Topic name.
    pub name: String,
    /// Keep records at least this long (e.g. 7d), or `default` to keep them forever.
    #[arg(long, value_parser = change(parse_duration))]
    pub retention: Option<Change<Duration>>,
    /// Keep about this many bytes per partition (e.g. 10GiB), or `default` for no limit.
    #[arg(long, value_parser = change(parse_size))]
    pub retention_bytes: Option<Change<u64>>,
    /// Segment size (1MiB to 2GiB) from the next roll, or `default` (the server's).
    #[arg(long, value_parser = change(parse_size))]
    pub segment_bytes: Option<Change<u64>>,
    /// Roll the active segment at this age (e.g. 1h), or `default`.
    #[arg(long, value_parser = change(parse_duration))]
    pub segment_age: Option<Change<Duration>>,
    /// What happens to old records.
    #[arg(long, value_enum)]
    pub cleanup: Option<Cleanup>,
    /// Compact topics: keep tombstones this long (e.g. 1d), or `default` (24h).
    #[arg(long, value_parser = change(parse_duration))]
    pub delete_retention: Option<Change<Duration>>,
    /// Compact topics: compact in the background once this share (0 to 1) of the sealed
    /// bytes is new, or `default` (0.5).
    #[arg(long, value_parser = change(parse_ratio))]
    pub dirty_ratio: Option<Change<f64>>,
    /// Refuse records stamped more than this long before the server's clock (e.g. 30d),
    /// or `default` for no bound.
    #[arg(long, value_parser = change(parse_duration))]
    pub timestamp_before_max: Option<Change<Duration>>,
    /// Refuse records stamped more than this long after the server's clock (e.g. 10m),
    /// or `default` (1h).
    #[arg(long, value_parser = change(parse_duration))]
    pub timestamp_after_max: Option<Change<Duration>>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub client: ClientArgs,
}

/// Parses a ratio between 0 and 1.
pub fn parse_ratio(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|r| (0.0..=1.0).contains(r))
        .ok_or_else(|| format!("{text:?} is not a ratio between 0 and 1 (e.g. 0.5)"))
}

/// A value parser accepting `default` or what `parse` accepts.
fn change<T: Clone + Send + Sync + 'static>(
    parse: fn(&str) -> Result<T, String>,
) -> impl Fn(&str) -> Result<Change<T>, String> + Clone + Send + Sync + 'static {
    move |text: &str| match text {
        "default" => Ok(Change::Default),
        _ => parse(text)
            .map(Change::Set)
            .map_err(|err| format!("{err}, or default")),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Splits a change into the value to set, or records the field in `reset`.
fn split<T>(name: &str, change: Option<Change<T>>, reset: &mut Vec<String>) -> Option<T> {
    match change {
        Some(Change::Set(value)) => Some(value),
        Some(Change::Default) => {
            reset.push(name.to_string());
            None
        }
        None => None,
    }
}

/// The wire request for `args`: set fields in `set`, defaults named in `reset`.
fn request(args: &AlterArgs) -> pb::UpdateTopicConfigRequest {
    let mut reset = Vec::new();
    let set = pb::TopicConfig {
        retention_ms: split("retention_ms", args.retention, &mut reset).map(millis),
        retention_bytes: split("retention_bytes", args.retention_bytes, &mut reset),
        segment_bytes: split("segment_bytes", args.segment_bytes, &mut reset),
        segment_ms: split("segment_ms", args.segment_age, &mut reset).map(millis),
        delete_retention_ms: split("delete_retention_ms", args.delete_retention, &mut reset)
            .map(millis),
        min_cleanable_dirty_ratio: split("min_cleanable_dirty_ratio", args.dirty_ratio, &mut reset),
        cleanup_policy: args.cleanup.map_or(0, |c| c.to_wire().into()),
        message_timestamp_before_max_ms: split(
            "message_timestamp_before_max_ms",
            args.timestamp_before_max,
            &mut reset,
        )
        .map(millis),
        message_timestamp_after_max_ms: split(
            "message_timestamp_after_max_ms",
            args.timestamp_after_max,
            &mut reset,
        )
        .map(millis),
    };
    pb::UpdateTopicConfigRequest {
        name: args.name.clone(),
        set: Some(set),
        reset,
    }
}

/// Runs `topic alter`.
pub async fn run(args: AlterArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let request = request(&args);
    let mut client = args.client.connect().await?;
    let reply = client
        .admin
        .update_topic_config(request)
        .await
        .map_err(rpc_error)?
        .into_inner();
    let topic = reply.topic.context("the server's reply has no topic")?;
    match args.client.format {
        Format::Json => write_json(out, &summary_json(&topic))?,
        Format::Text => write_table(out, &SUMMARY_HEADERS, &[summary_row(&topic)])?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        alter: AlterArgs,
    }

    #[test]
    fn timestamp_bounds_are_set_or_returned_to_their_default() {
        let args = Cli::parse_from([
            "alter",
            "orders",
            "--timestamp-before-max",
            "30d",
            "--timestamp-after-max",
            "default",
        ])
        .alter;
        let request = request(&args);
        let set = request.set.unwrap_or_default();
        assert_eq!(set.message_timestamp_before_max_ms, Some(30 * 86_400_000));
        assert_eq!(set.message_timestamp_after_max_ms, None);
        assert_eq!(request.reset, ["message_timestamp_after_max_ms"]);
    }
}
