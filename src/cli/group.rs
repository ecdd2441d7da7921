//! `eventlog group list|describe|reset|delete`: consumer groups, their lag, and
//! moving or removing their committed offsets.

use std::io::{self, Write};

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::group_members::{members_json, write_members};
use super::output::{Format, format_time_ms, write_json, write_table};
use super::parse::{StartFrom, parse_from};
use super::topic::ClientOnly;
use super::{ClientArgs, rpc_error};
use crate::proto::v1 as pb;
use crate::proto::v1::reset_group_offsets_request::To;

/// The `group` subcommands.
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// List consumer groups and the topics they have committed for.
    List(ClientOnly),
    /// Show a group's committed offsets and lag per partition, and its live members
    /// with their partitions and the generation.
    Describe(GroupArgs),
    /// Move a group's committed offsets in a topic.
    Reset(ResetArgs),
    /// Delete a group's committed offsets.
    Delete(DeleteArgs),
}

/// Arguments of commands on one group.
#[derive(Debug, Args)]
pub struct GroupArgs {
    /// Group name.
    pub group: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub client: ClientArgs,
}

/// Arguments of `group reset`.
#[derive(Debug, Args)]
pub struct ResetArgs {
    /// Group name (created if it has no commits yet).
    pub group: String,
    /// The topic whose offsets move.
    #[arg(long)]
    pub topic: String,
    /// Only this partition; every partition of the topic by default.
    #[arg(long)]
    pub partition: Option<u32>,
    /// Where to: earliest, latest, an OFFSET (clamped into each partition's range), or
    /// an RFC 3339 time (the first record at or after it; the end where there is none).
    #[arg(long, value_parser = parse_from)]
    pub to: StartFrom,
    /// Show the new offsets without storing them.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub client: ClientArgs,
}

/// Arguments of `group delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Group name.
    pub group: String,
    /// Show what would be deleted without deleting it.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub client: ClientArgs,
}

/// Column titles of the lag table.
pub const LAG_HEADERS: [&str; 5] = ["TOPIC", "PARTITION", "COMMITTED", "HIGH-WATERMARK", "LAG"];

/// Runs a `group` subcommand.
pub async fn run(command: GroupCommand) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    match command {
        GroupCommand::List(args) => list(args, &mut out).await,
        GroupCommand::Describe(args) => describe(args, &mut out).await,
        GroupCommand::Reset(args) => reset(args, &mut out).await,
        GroupCommand::Delete(args) => delete(args, &mut out).await,
    }
}

async fn list(args: ClientOnly, out: &mut impl Write) -> anyhow::Result<()> {
    let mut client = args.client.connect().await?;
    let reply = client
        .admin
        .list_groups(pb::ListGroupsRequest {})
        .await
        .map_err(rpc_error)?
        .into_inner();
    match args.client.format {
        Format::Json => {
            let groups: Vec<Value> = reply
                .groups
                .iter()
                .map(|g| json!({ "group": g.group, "topics": g.topics }))
                .collect();
            write_json(out, &json!({ "groups": groups }))?;
        }
        Format::Text => {
            let rows: Vec<Vec<String>> = reply
                .groups
                .iter()
                .map(|g| vec![g.group.clone(), g.topics.join(",")])
                .collect();
            write_table(out, &["GROUP", "TOPICS"], &rows)?;
        }
    }
    Ok(())
}

async fn describe(args: GroupArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let mut client = args.client.connect().await?;
    let reply = client
        .admin
        .describe_group(pb::DescribeGroupRequest {
            group: args.group.clone(),
        })
        .await
        .map_err(rpc_error)?
        .into_inner();
    match args.client.format {
        Format::Json => {
            let partitions: Vec<Value> = reply.partitions.iter().map(position_json).collect();
            let mut value = json!({ "group": args.group, "partitions": partitions });
            if let (Some(object), Value::Object(members)) =
                (value.as_object_mut(), members_json(&reply))
            {
                object.extend(members);
            }
            write_json(out, &value)?;
        }
        Format::Text => {
            write_positions(out, Format::Text, &args.group, &reply.partitions)?;
            write_members(out, &reply)?;
        }
    }
    Ok(())
}

/// A group's positions as the lag table, or as one JSON object.
fn write_positions(
    out: &mut impl Write,
    format: Format,
    group: &str,
    positions: &[pb::GroupPartitionOffset],
) -> io::Result<()> {
    match format {
        Format::Json => {
            let partitions: Vec<Value> = positions.iter().map(position_json).collect();
            write_json(out, &json!({ "group": group, "partitions": partitions }))
        }
        Format::Text => {
            let rows: Vec<Vec<String>> = positions.iter().map(lag_row).collect();
            write_table(out, &LAG_HEADERS, &rows)
        }
    }
}

/// A row of the lag table; a partition without a commit shows `-`.
pub fn lag_row(p: &pb::GroupPartitionOffset) -> Vec<String> {
    vec![
        p.topic.clone(),
        p.partition.to_string(),
        p.next_offset.map_or_else(|| "-".into(), |o| o.to_string()),
        p.high_watermark.to_string(),
        p.lag.to_string(),
    ]
}

fn position_json(p: &pb::GroupPartitionOffset) -> Value {
    json!({
        "topic": p.topic,
        "partition": p.partition,
        "next_offset": p.next_offset,
        "metadata": p.metadata,
        "commit_time_ms": p.commit_time_ms,
        "commit_time": p.next_offset.map(|_| format_time_ms(p.commit_time_ms)),
        "log_start_offset": p.log_start_offset,
        "high_watermark": p.high_watermark,
        "lag": p.lag,
    })
}

async fn reset(args: ResetArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let to = match args.to {
        StartFrom::Earliest => To::Position(pb::StartPosition::Earliest.into()),
        StartFrom::Latest => To::Position(pb::StartPosition::Latest.into()),
        StartFrom::Offset(offset) => To::Offset(offset),
        StartFrom::Time(ms) => To::TimestampMs(ms),
    };
    let mut client = args.client.connect().await?;
    let reply = client
        .admin
        .reset_group_offsets(pb::ResetGroupOffsetsRequest {
            group: args.group.clone(),
            topic: args.topic.clone(),
            partition: args.partition,
            to: Some(to),
            dry_run: args.dry_run,
        })
        .await
        .map_err(rpc_error)?
        .into_inner();
    match args.client.format {
        Format::Json => {
            let partitions: Vec<Value> = reply
                .partitions
                .iter()
                .map(|p| {
                    json!({
                        "partition": p.partition,
                        "previous_next_offset": p.previous_next_offset,
                        "next_offset": p.next_offset,
                    })
                })
                .collect();
            let value = json!({
                "group": args.group,
                "topic": args.topic,
                "dry_run": reply.dry_run,
                "partitions": partitions,
            });
            write_json(out, &value)?;
        }
        Format::Text => {
            let rows: Vec<Vec<String>> = reply
                .partitions
                .iter()
                .map(|p| {
                    vec![
                        args.topic.clone(),
                        p.partition.to_string(),
                        p.previous_next_offset
                            .map_or_else(|| "-".into(), |o| o.to_string()),
                        p.next_offset.to_string(),
                    ]
                })
                .collect();
            write_table(out, &["TOPIC", "PARTITION", "PREVIOUS", "NEW"], &rows)?;
            if reply.dry_run {
                writeln!(out, "dry run: nothing was changed")?;
            }
        }
    }
    Ok(())
}

async fn delete(args: DeleteArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let mut client = args.client.connect().await?;
    let reply = client
        .admin
        .delete_group(pb::DeleteGroupRequest {
            group: args.group.clone(),
            dry_run: args.dry_run,
        })
        .await
        .map_err(rpc_error)?
        .into_inner();
    match args.client.format {
        Format::Json => {
            let partitions: Vec<Value> = reply.partitions.iter().map(position_json).collect();
            let value = json!({
                "group": args.group,
                "dry_run": args.dry_run,
                "partitions": partitions,
            });
            write_json(out, &value)?;
        }
        Format::Text if args.dry_run => writeln!(
            out,
            "would delete group {} ({} committed partition(s)); dry run: nothing was changed",
            args.group,
            reply.partitions.len()
        )?,
        Format::Text => writeln!(
            out,
            "deleted group {} ({} committed partition(s))",
            args.group,
            reply.partitions.len()
        )?,
    }
    Ok(())
}
