//! `eventlog topic reassign NAME --partition N --replicas 2,3,4`: moves a partition's
//! replicas to other nodes of a cluster; returns once the move is done.

use std::io::Write;

use clap::Args;
use serde_json::json;

use super::output::{Format, write_json};
use super::{ClientArgs, rpc_error};
use crate::proto::v1 as pb;

/// Arguments of `topic reassign`.
#[derive(Debug, Args)]
pub struct ReassignArgs {
    /// Topic name.
    pub name: String,
    /// The partition to move.
    #[arg(long)]
    pub partition: u32,
    /// The new replicas as node ids, comma-separated; the first is the preferred
    /// leader.
    #[arg(long, value_delimiter = ',', required = true, value_parser = clap::value_parser!(u64).range(1..=1023))]
    pub replicas: Vec<u64>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub client: ClientArgs,
}

/// Runs `topic reassign`.
pub async fn run(args: ReassignArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let request = pb::ReassignPartitionRequest {
        topic: args.name.clone(),
        partition: args.partition,
        replicas: args.replicas,
    };
    let mut client = args.client.connect().await?;
    let reply = client
        .admin
        .reassign_partition(request)
        .await
        .map_err(rpc_error)?
        .into_inner();
    let replicas: Vec<String> = reply.replicas.iter().map(u64::to_string).collect();
    match args.client.format {
        Format::Json => write_json(
            out,
            &json!({
                "topic": args.name,
                "partition": args.partition,
                "replicas": reply.replicas,
            }),
        )?,
        Format::Text => writeln!(
            out,
            "partition {}/{} now has replicas {}",
            args.name,
            args.partition,
            replicas.join(",")
        )?,
    }
    Ok(())
}
