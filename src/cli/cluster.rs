//! `eventlog cluster status`: the cluster's nodes, and per partition its replicas, its
//! leader and how far each follower is behind, as the node asked sees them, with how
//! many partitions each node leads and which are not led by their preferred leader;
//! `add-node` / `remove-node` ([`super::cluster_nodes`]) and `balance-leaders`
//! ([`super::cluster_balance`]).

use std::io::{self, Write};

use clap::Subcommand;
use serde_json::{Value, json};

use super::output::{Format, write_json, write_table};
use super::rpc_error;
use super::topic::ClientOnly;
use crate::proto::v1 as pb;

/// The `cluster` subcommands.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Show the nodes, and each partition's replicas, leader and follower lag.
    Status(ClientOnly),
    /// Add a node started with `--node-id ID --join`, given as ID=HOST:PORT: it joins
    /// the metadata group, catches up, and learns every topic.
    AddNode(super::cluster_nodes::AddNodeArgs),
    /// Remove a node that holds no replica any more.
    RemoveNode(super::cluster_nodes::RemoveNodeArgs),
    /// Hand each partition's leadership back to its preferred leader (its first
    /// replica) where that one is up and caught up.
    BalanceLeaders(ClientOnly),
}

/// Runs a `cluster` subcommand.
pub async fn run(command: ClusterCommand) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    match command {
        ClusterCommand::Status(args) => status(args, &mut out).await,
        ClusterCommand::AddNode(args) => super::cluster_nodes::add(args, &mut out).await,
        ClusterCommand::RemoveNode(args) => super::cluster_nodes::remove(args, &mut out).await,
        ClusterCommand::BalanceLeaders(args) => {
            super::cluster_balance::balance(args, &mut out).await
        }
    }
}

async fn status(args: ClientOnly, out: &mut impl Write) -> anyhow::Result<()> {
    let mut client = args.client.connect().await?;
    let reply = client
        .admin
        .describe_cluster(pb::DescribeClusterRequest {})
        .await
        .map_err(rpc_error)?
        .into_inner();
    if reply.node_id == 0 {
        anyhow::bail!("the server is a single node, not part of a cluster");
    }
    match args.client.format {
        Format::Json => write_json(out, &as_json(&reply))?,
        Format::Text => write_text(&reply, out)?,
    }
    Ok(())
}

fn leader_text(leader: Option<u64>) -> String {
    leader.map_or_else(|| "?".to_string(), |l| l.to_string())
}

fn write_text(reply: &pb::DescribeClusterResponse, out: &mut impl Write) -> io::Result<()> {
    let nodes: Vec<Vec<String>> = reply
        .nodes
        .iter()
        .map(|n| {
            let mut role = Vec::new();
            if n.id == reply.node_id {
                role.push("answering");
            }
            if reply.metadata_leader == Some(n.id) {
                role.push("metadata leader");
            }
            let kafka = n.kafka_address.clone().unwrap_or_else(|| "-".into());
            vec![n.id.to_string(), n.address.clone(), kafka, role.join(", ")]
        })
        .collect();
    write_table(out, &["NODE", "ADDRESS", "KAFKA", "ROLE"], &nodes)?;
    writeln!(out)?;
    let partitions: Vec<Vec<String>> = reply
        .partitions
        .iter()
        .map(|p| {
            let replicas: Vec<String> = p.replicas.iter().map(u64::to_string).collect();
            let lag: Vec<String> = p
                .followers
                .iter()
                .map(|f| match f.entries_behind {
                    Some(n) => format!("{}:{n}", f.node_id),
                    None => format!("{}:?", f.node_id),
                })
                .collect();
            vec![
                p.topic.clone(),
                p.partition.to_string(),
                replicas.join(","),
                leader_text(p.leader),
                if lag.is_empty() {
                    "-".into()
                } else {
                    lag.join(" ")
                },
            ]
        })
        .collect();
    write_table(
        out,
        &[
            "TOPIC",
            "PARTITION",
            "REPLICAS",
            "LEADER",
            "FOLLOWERS_BEHIND",
        ],
        &partitions,
    )?;
    write_balance(reply, out)
}

/// How many partitions each node leads, and how many are not led by their preferred
/// leader (the first replica): the imbalance failovers leave behind.
fn write_balance(reply: &pb::DescribeClusterResponse, out: &mut impl Write) -> io::Result<()> {
    let led: Vec<String> = reply
        .nodes
        .iter()
        .map(|n| {
            let count = reply
                .partitions
                .iter()
                .filter(|p| p.leader == Some(n.id))
                .count();
            format!("node {} leads {count}", n.id)
        })
        .collect();
    writeln!(out)?;
    writeln!(out, "{}", led.join(", "))?;
    let elsewhere = reply.partitions.iter().filter(|p| !preferred(p)).count();
    if elsewhere > 0 {
        writeln!(
            out,
            "{elsewhere} partition(s) not led by their preferred leader (the first replica); `eventlog cluster balance-leaders` hands them back"
        )?;
    }
    Ok(())
}

/// Whether the partition is led by its preferred leader (unknown counts as led).
fn preferred(partition: &pb::PartitionReplicas) -> bool {
    partition
        .leader
        .is_none_or(|l| partition.replicas.first() == Some(&l))
}

fn as_json(reply: &pb::DescribeClusterResponse) -> Value {
    let nodes: Vec<Value> = reply
        .nodes
        .iter()
        .map(|n| json!({ "id": n.id, "address": n.address, "kafka_address": n.kafka_address }))
        .collect();
    let partitions: Vec<Value> = reply
        .partitions
        .iter()
        .map(|p| {
            let followers: Vec<Value> = p
                .followers
                .iter()
                .map(|f| json!({ "node": f.node_id, "entries_behind": f.entries_behind }))
                .collect();
            json!({
                "topic": p.topic,
                "partition": p.partition,
                "replicas": p.replicas,
                "leader": p.leader,
                "preferred_leader": p.replicas.first(),
                "followers": followers,
            })
        })
        .collect();
    json!({
        "node_id": reply.node_id,
        "metadata_leader": reply.metadata_leader,
        "nodes": nodes,
        "partitions": partitions,
    })
}
