//! `eventlog topic add-partitions NAME --partitions N`: grows a topic's partition
//! count on a running server. Records already stored stay in their partitions; keyed
//! records produced afterwards are placed over the new count.

use std::io::Write;

use anyhow::Context;
use clap::Args;
use serde_json::json;

use super::output::{Format, write_json};
use super::topic::summary_json;
use super::{ClientArgs, rpc_error};
use crate::proto::v1 as pb;

/// Arguments of `topic add-partitions`.
#[derive(Debug, Args)]
pub struct AddPartitionsArgs {
    /// Topic name.
    pub name: String,
    /// The topic's partition count afterwards: more than it has now, at most 1024.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub partitions: u32,
    /// Only check that the server would accept the change; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub client: ClientArgs,
}

/// Runs `topic add-partitions`.
pub async fn run(args: AddPartitionsArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let request = pb::CreatePartitionsRequest {
        name: args.name.clone(),
        partitions: args.partitions,
        validate_only: args.dry_run,
    };
    let mut client = args.client.connect().await?;
    let reply = client
        .admin
        .create_partitions(request)
        .await
        .map_err(rpc_error)?
        .into_inner();
    let topic = reply.topic.context("the server's reply has no topic")?;
    match args.client.format {
        Format::Json => {
            let mut summary = summary_json(&topic);
            summary["dry_run"] = json!(args.dry_run);
            write_json(out, &summary)?;
        }
        Format::Text if args.dry_run => writeln!(
            out,
            "topic {} can have {} partition(s) (dry run: nothing changed)",
            topic.name, topic.partitions
        )?,
        Format::Text => writeln!(
            out,
            "topic {} now has {} partition(s)",
            topic.name, topic.partitions
        )?,
    }
    Ok(())
}
