//! `eventlog cluster add-node ID=HOST:PORT` and `eventlog cluster remove-node ID`:
//! change the cluster's nodes through any node, and show the nodes afterwards.

use std::io::{self, Write};

use clap::Args;
use serde_json::json;

use super::output::{Format, write_json, write_table};
use super::rpc_error;
use super::topic::ClientOnly;
use crate::proto::v1 as pb;

/// Arguments of `cluster add-node`.
#[derive(Debug, Args)]
pub struct AddNodeArgs {
    /// The new node as ID=HOST:PORT: the id it was started with (`--node-id ID
    /// --join`) and the address the other nodes and clients reach it at.
    #[arg(value_parser = parse_node)]
    pub node: (u64, String),
    #[command(flatten)]
    #[allow(missing_docs)]
    pub server: ClientOnly,
}

/// Arguments of `cluster remove-node`.
#[derive(Debug, Args)]
pub struct RemoveNodeArgs {
    /// The node's id. Move its replicas off first (`eventlog topic reassign`).
    #[arg(value_parser = clap::value_parser!(u64).range(1..=1023))]
    pub id: u64,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub server: ClientOnly,
}

/// Parses `ID=HOST:PORT`.
fn parse_node(text: &str) -> Result<(u64, String), String> {
    let (id, addr) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not ID=HOST:PORT"))?;
    let id: u64 = id
        .trim()
        .parse()
        .ok()
        .filter(|id| (1..=1023).contains(id))
        .ok_or_else(|| format!("{id:?} is not a node id (1 to 1023)"))?;
    let addr = addr.trim();
    if addr
        .rsplit_once(':')
        .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
    {
        return Err(format!("{addr:?} is not HOST:PORT"));
    }
    Ok((id, addr.to_string()))
}

/// Adds a node and prints the cluster's nodes.
pub async fn add(args: AddNodeArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let mut client = args.server.client.connect().await?;
    let (node_id, address) = args.node;
    let reply = client
        .admin
        .add_node(pb::AddNodeRequest { node_id, address })
        .await
        .map_err(rpc_error)?
        .into_inner();
    write_nodes(&reply.nodes, args.server.client.format, out)?;
    Ok(())
}

/// Removes a node and prints the cluster's nodes.
pub async fn remove(args: RemoveNodeArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let mut client = args.server.client.connect().await?;
    let reply = client
        .admin
        .remove_node(pb::RemoveNodeRequest { node_id: args.id })
        .await
        .map_err(rpc_error)?
        .into_inner();
    write_nodes(&reply.nodes, args.server.client.format, out)?;
    Ok(())
}

fn write_nodes(nodes: &[pb::ClusterNode], format: Format, out: &mut impl Write) -> io::Result<()> {
    match format {
        Format::Json => {
            let nodes: Vec<_> = nodes
                .iter()
                .map(|n| json!({ "id": n.id, "address": n.address }))
                .collect();
            write_json(out, &json!({ "nodes": nodes }))
        }
        Format::Text => {
            let rows: Vec<Vec<String>> = nodes
                .iter()
                .map(|n| vec![n.id.to_string(), n.address.clone()])
                .collect();
            write_table(out, &["NODE", "ADDRESS"], &rows)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_is_id_equals_host_and_port() {
        assert_eq!(
            parse_node("4=127.0.0.1:50054"),
            Ok((4, "127.0.0.1:50054".to_string()))
        );
        assert!(parse_node("4").is_err());
        assert!(parse_node("0=127.0.0.1:1").is_err());
        assert!(parse_node("4=127.0.0.1").is_err());
        assert!(parse_node("x=127.0.0.1:1").is_err());
    }
}
