//! `eventlog topic create|list|describe|delete` (and, in their own files, `alter`,
//! `add-partitions`, `compact`).

use std::io::{self, Write};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

use super::output::{Format, format_duration_ms, format_size, write_json, write_table};
use super::parse::{parse_duration, parse_size};
use super::{ClientArgs, rpc_error};
use crate::proto::v1 as pb;

/// The `topic` subcommands.
#[derive(Debug, Subcommand)]
pub enum TopicCommand {
    /// Create a topic.
    Create(CreateArgs),
    /// List topics.
    List(ClientOnly),
    /// Show a topic's config and partitions.
    Describe(NamedArgs),
    /// Delete a topic and all its records.
    Delete(NamedArgs),
    /// Change a topic's config (retention, cleanup, segments) on the running server.
    Alter(super::topic_alter::AlterArgs),
    /// Give a topic more partitions (existing records stay; new keys spread over all).
    AddPartitions(super::topic_partitions::AddPartitionsArgs),
    /// Move a partition's replicas to other nodes of a cluster (no record is lost).
    Reassign(super::topic_reassign::ReassignArgs),
    /// Compact topics with cleanup policy compact now, through the running server.
    Compact(super::compact::OnlineArgs),
}

/// Cleanup policy on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Cleanup {
    /// Delete old segments by retention time and size.
    Delete,
    /// Keep the latest record of each key.
    Compact,
}

impl Cleanup {
    /// The wire value.
    pub fn to_wire(self) -> pb::CleanupPolicy {
        match self {
            Cleanup::Delete => pb::CleanupPolicy::Delete,
            Cleanup::Compact => pb::CleanupPolicy::Compact,
        }
    }
}

/// Arguments of `topic create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Topic name: 1 to 249 characters of A-Z a-z 0-9 . _ -
    pub name: String,
    /// Number of partitions.
    #[arg(long, env = "EVENTLOG_PARTITIONS", default_value_t = 1)]
    pub partitions: u32,
    /// Replicas of each partition in a cluster, 1 to the number of nodes [default: the
    /// smaller of 3 and the node count; 1 on a single node].
    #[arg(long, env = "EVENTLOG_REPLICATION_FACTOR", value_parser = clap::value_parser!(u32).range(1..))]
    pub replication_factor: Option<u32>,
    /// Keep records at least this long (e.g. 7d, 12h); forever when not given.
    #[arg(long, env = "EVENTLOG_RETENTION", value_parser = parse_duration)]
    pub retention: Option<Duration>,
    /// Keep about this many bytes per partition (e.g. 10GiB); unlimited when not given.
    #[arg(long, env = "EVENTLOG_RETENTION_BYTES", value_parser = parse_size)]
    pub retention_bytes: Option<u64>,
    /// Segment size (1MiB to 2GiB); the server's default when not given.
    #[arg(long, env = "EVENTLOG_SEGMENT_BYTES", value_parser = parse_size)]
    pub segment_bytes: Option<u64>,
    /// What happens to old records.
    #[arg(long, env = "EVENTLOG_CLEANUP", value_enum, default_value_t = Cleanup::Delete)]
    pub cleanup: Cleanup,
    /// Roll the active segment at this age (e.g. 1h); by default the retention time
    /// (delete topics, at most 7d) or 7d (compact topics).
    #[arg(long, value_parser = parse_duration)]
    pub segment_age: Option<Duration>,
    /// Compact topics: keep tombstones this long before removing them (default 24h).
    #[arg(long, value_parser = parse_duration)]
    pub delete_retention: Option<Duration>,
    /// Compact topics: compact in the background once this share (0 to 1) of the sealed
    /// bytes is new (default 0.5).
    #[arg(long, value_parser = super::topic_alter::parse_ratio)]
    pub dirty_ratio: Option<f64>,
    /// Refuse records stamped more than this long before the server's clock (e.g. 30d);
    /// no bound when not given.
    #[arg(long, value_parser = parse_duration)]
    pub timestamp_before_max: Option<Duration>,
    /// Refuse records stamped more than this long after the server's clock (default 1h).
    #[arg(long, value_parser = parse_duration)]
    pub timestamp_after_max: Option<Duration>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub client: ClientArgs,
}

/// Arguments of commands that only need a server.
#[derive(Debug, Args)]
pub struct ClientOnly {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub client: ClientArgs,
}

/// Arguments of commands on one named topic.
#[derive(Debug, Args)]
pub struct NamedArgs {
    /// Topic name.
    pub name: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub client: ClientArgs,
}

/// Runs a `topic` subcommand.
pub async fn run(command: TopicCommand) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    match command {
        TopicCommand::Create(args) => create(args, &mut out).await,
        TopicCommand::List(args) => list(args, &mut out).await,
        TopicCommand::Describe(args) => describe(args, &mut out).await,
        TopicCommand::Delete(args) => delete(args, &mut out).await,
        TopicCommand::Alter(args) => super::topic_alter::run(args, &mut out).await,
        TopicCommand::AddPartitions(args) => super::topic_partitions::run(args, &mut out).await,
        TopicCommand::Reassign(args) => super::topic_reassign::run(args, &mut out).await,
        TopicCommand::Compact(args) => {
            drop(out);
            super::compact::run_online(args).await
        }
    }
}

async fn create(args: CreateArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let retention_ms = args
        .retention
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let cleanup_policy = args.cleanup.to_wire();
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let request = pb::CreateTopicRequest {
        name: args.name.clone(),
        partitions: args.partitions,
        replication_factor: args.replication_factor.unwrap_or(0),
        config: Some(pb::TopicConfig {
            retention_ms,
            retention_bytes: args.retention_bytes,
            segment_bytes: args.segment_bytes,
            cleanup_policy: cleanup_policy.into(),
            delete_retention_ms: args.delete_retention.map(millis),
            min_cleanable_dirty_ratio: args.dirty_ratio,
            segment_ms: args.segment_age.map(millis),
            message_timestamp_before_max_ms: args.timestamp_before_max.map(millis),
            message_timestamp_after_max_ms: args.timestamp_after_max.map(millis),
        }),
    };
    let mut client = args.client.connect().await?;
    let created = client
        .admin
        .create_topic(request)
        .await
        .map_err(rpc_error)?
        .into_inner();
    let topic = created.topic.context("the server's reply has no topic")?;
    match args.client.format {
        Format::Json => write_json(out, &summary_json(&topic))?,
        Format::Text => writeln!(
            out,
            "created topic {} with {} partition(s)",
            topic.name, topic.partitions
        )?,
    }
    Ok(())
}

async fn list(args: ClientOnly, out: &mut impl Write) -> anyhow::Result<()> {
    let mut client = args.client.connect().await?;
    let reply = client
        .admin
        .list_topics(pb::ListTopicsRequest {})
        .await
        .map_err(rpc_error)?
        .into_inner();
    match args.client.format {
        Format::Json => {
            let topics: Vec<Value> = reply.topics.iter().map(summary_json).collect();
            write_json(out, &json!({ "topics": topics }))?;
        }
        Format::Text => {
            let rows: Vec<Vec<String>> = reply.topics.iter().map(summary_row).collect();
            write_table(out, &SUMMARY_HEADERS, &rows)?;
        }
    }
    Ok(())
}

async fn describe(args: NamedArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let mut client = args.client.connect().await?;
    let request = pb::DescribeTopicRequest { name: args.name };
    let reply = client
        .admin
        .describe_topic(request)
        .await
        .map_err(rpc_error)?
        .into_inner();
    let topic = reply.topic.context("the server's reply has no topic")?;
    match args.client.format {
        Format::Json => {
            let partitions: Vec<Value> = reply
                .partitions
                .iter()
                .map(|p| {
                    json!({
                        "partition": p.partition,
                        "log_start_offset": p.log_start_offset,
                        "high_watermark": p.high_watermark,
                        "segment_count": p.segment_count,
                        "size_bytes": p.size_bytes,
                        "status": status_name(p.status),
                        "unavailable_reason": p.unavailable_reason,
                    })
                })
                .collect();
            let mut value = summary_json(&topic);
            value["partition_details"] = Value::Array(partitions);
            write_json(out, &value)?;
        }
        Format::Text => {
            write_table(out, &SUMMARY_HEADERS, &[summary_row(&topic)])?;
            writeln!(out)?;
            write_table(out, &MORE_HEADERS, &[more_row(&topic)])?;
            writeln!(out)?;
            let rows: Vec<Vec<String>> = reply
                .partitions
                .iter()
                .map(|p| {
                    vec![
                        p.partition.to_string(),
                        p.log_start_offset.to_string(),
                        p.high_watermark.to_string(),
                        p.segment_count.to_string(),
                        p.size_bytes.to_string(),
                        status_cell(p),
                    ]
                })
                .collect();
            write_table(
                out,
                &[
                    "PARTITION",
                    "LOG_START",
                    "HIGH_WATERMARK",
                    "SEGMENTS",
                    "BYTES",
                    "STATUS",
                ],
                &rows,
            )?;
        }
    }
    Ok(())
}

async fn delete(args: NamedArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let mut client = args.client.connect().await?;
    let request = pb::DeleteTopicRequest {
        name: args.name.clone(),
    };
    client
        .admin
        .delete_topic(request)
        .await
        .map_err(rpc_error)?;
    match args.client.format {
        Format::Json => write_json(out, &json!({ "deleted": args.name }))?,
        Format::Text => writeln!(out, "deleted topic {}", args.name)?,
    }
    Ok(())
}

/// Column titles of [`summary_row`].
pub const SUMMARY_HEADERS: [&str; 6] = [
    "NAME",
    "PARTITIONS",
    "RETENTION",
    "RETENTION_BYTES",
    "SEGMENT_BYTES",
    "CLEANUP",
];

/// A topic as table cells, sizes and durations written as their flags take them
/// (`1GiB`, `7d`).
pub fn summary_row(topic: &pb::TopicSummary) -> Vec<String> {
    let config = topic.config.unwrap_or_default();
    vec![
        topic.name.clone(),
        topic.partitions.to_string(),
        or_dash(config.retention_ms.map(format_duration_ms)),
        or_dash(config.retention_bytes.map(format_size)),
        or_dash(config.segment_bytes.map(format_size)),
        cleanup_name(config.cleanup_policy).to_string(),
    ]
}

/// Column titles of [`more_row`].
pub const MORE_HEADERS: [&str; 5] = [
    "SEGMENT_AGE",
    "DELETE_RETENTION",
    "DIRTY_RATIO",
    "TIMESTAMP_BEFORE_MAX",
    "TIMESTAMP_AFTER_MAX",
];

/// The settings `describe` shows beyond [`summary_row`] (`-`: the default).
pub fn more_row(topic: &pb::TopicSummary) -> Vec<String> {
    let config = topic.config.unwrap_or_default();
    vec![
        or_dash(config.segment_ms.map(format_duration_ms)),
        or_dash(config.delete_retention_ms.map(format_duration_ms)),
        or_dash(config.min_cleanable_dirty_ratio.map(|r| r.to_string())),
        or_dash(
            config
                .message_timestamp_before_max_ms
                .map(format_duration_ms),
        ),
        or_dash(
            config
                .message_timestamp_after_max_ms
                .map(format_duration_ms),
        ),
    ]
}

/// A topic as a JSON object: sizes in bytes and durations in milliseconds.
pub fn summary_json(topic: &pb::TopicSummary) -> Value {
    let config = topic.config.unwrap_or_default();
    json!({
        "name": topic.name,
        "partitions": topic.partitions,
        "retention_ms": config.retention_ms,
        "retention_bytes": config.retention_bytes,
        "segment_bytes": config.segment_bytes,
        "cleanup_policy": cleanup_name(config.cleanup_policy),
        "delete_retention_ms": config.delete_retention_ms,
        "min_cleanable_dirty_ratio": config.min_cleanable_dirty_ratio,
        "segment_ms": config.segment_ms,
        "message_timestamp_before_max_ms": config.message_timestamp_before_max_ms,
        "message_timestamp_after_max_ms": config.message_timestamp_after_max_ms,
    })
}

/// A partition's status as JSON names it: `online` or `unavailable`.
fn status_name(status: i32) -> &'static str {
    match pb::PartitionStatus::try_from(status) {
        Ok(pb::PartitionStatus::Unavailable) => "unavailable",
        Ok(pb::PartitionStatus::Online) => "online",
        _ => "unknown",
    }
}

/// A partition's status cell: `online`, or `unavailable: ` and the cause, so an
/// operator sees what to repair without another command.
fn status_cell(p: &pb::PartitionDescription) -> String {
    match status_name(p.status) {
        "unavailable" => format!("unavailable: {}", p.unavailable_reason),
        name => name.to_string(),
    }
}

/// A table cell for an optional setting: `-` when unset (the default applies).
fn or_dash(value: Option<String>) -> String {
    value.unwrap_or_else(|| "-".to_string())
}

fn cleanup_name(policy: i32) -> &'static str {
    match pb::CleanupPolicy::try_from(policy) {
        Ok(pb::CleanupPolicy::Compact) => "compact",
        Ok(_) => "delete",
        Err(_) => "unknown",
    }
}
