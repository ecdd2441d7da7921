//! `eventlog cluster balance-leaders`: hands each partition's leadership back to its
//! preferred leader (its first replica) and shows what became of every partition that
//! another replica led. Exits non-zero when a handover failed or a node could not be
//! asked, so that a script runs it again; a skipped partition (its preferred leader is
//! down or behind) is not an error.

use std::io::Write;

use serde_json::json;

use super::output::{Format, write_json, write_table};
use super::rpc_error;
use super::topic::ClientOnly;
use crate::proto::v1 as pb;

/// Balances the leaders through the server and prints the outcome.
pub async fn balance(args: ClientOnly, out: &mut impl Write) -> anyhow::Result<()> {
    let mut client = args.client.connect().await?;
    let reply = client
        .admin
        .balance_leaders(pb::BalanceLeadersRequest {})
        .await
        .map_err(rpc_error)?
        .into_inner();
    match args.client.format {
        Format::Json => write_json(out, &as_json(&reply))?,
        Format::Text => write_text(&reply, out)?,
    }
    let failed = reply
        .partitions
        .iter()
        .filter(|p| p.result() == pb::LeaderMoveResult::Failed)
        .count();
    if failed > 0 || !reply.unreachable.is_empty() {
        anyhow::bail!(
            "{failed} partition(s) could not be handed over and {} node(s) could not be asked; run it again",
            reply.unreachable.len()
        );
    }
    Ok(())
}

fn result_name(result: pb::LeaderMoveResult) -> &'static str {
    match result {
        pb::LeaderMoveResult::Moved => "moved",
        pb::LeaderMoveResult::Skipped => "skipped",
        pb::LeaderMoveResult::Failed => "failed",
        pb::LeaderMoveResult::Unspecified => "?",
    }
}

fn write_text(reply: &pb::BalanceLeadersResponse, out: &mut impl Write) -> std::io::Result<()> {
    if reply.partitions.is_empty() && reply.unreachable.is_empty() {
        return writeln!(out, "every partition is led by its preferred leader");
    }
    let rows: Vec<Vec<String>> = reply
        .partitions
        .iter()
        .map(|p| {
            vec![
                p.topic.clone(),
                p.partition.to_string(),
                p.from.to_string(),
                p.to.to_string(),
                result_name(p.result()).to_string(),
                p.reason.clone(),
            ]
        })
        .collect();
    write_table(
        out,
        &["TOPIC", "PARTITION", "FROM", "TO", "RESULT", "REASON"],
        &rows,
    )?;
    for node in &reply.unreachable {
        writeln!(out, "node {} was not asked: {}", node.node_id, node.reason)?;
    }
    Ok(())
}

fn as_json(reply: &pb::BalanceLeadersResponse) -> serde_json::Value {
    let partitions: Vec<_> = reply
        .partitions
        .iter()
        .map(|p| {
            json!({
                "topic": p.topic,
                "partition": p.partition,
                "from": p.from,
                "to": p.to,
                "result": result_name(p.result()),
                "reason": p.reason,
            })
        })
        .collect();
    let unreachable: Vec<_> = reply
        .unreachable
        .iter()
        .map(|n| json!({ "node": n.node_id, "reason": n.reason }))
        .collect();
    json!({ "partitions": partitions, "unreachable": unreachable })
}
