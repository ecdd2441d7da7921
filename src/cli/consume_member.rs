//! `eventlog consume TOPIC --group G --follow`: consume as a member of the group. The
//! server splits the topic's partitions among the group's members; this one prints the
//! records of its partitions, commits each batch after printing it, and when a
//! partition is taken away (another member joined) it releases it once its last batch
//! is committed. Stopping it (Ctrl-C, or killing it) hands its partitions to the other
//! members, which continue from its commits.
//!
//! Membership changes are reported on stderr, so stdout carries only records.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use super::consume::{ConsumeArgs, Printer};
use super::parse::StartFrom;
use crate::client::group_member::{GroupMember, MemberEvent, MemberOptions, Partition};
use crate::proto::v1 as pb;

/// Runs `consume` as a member of `group`.
pub async fn run(args: ConsumeArgs, group: String) -> anyhow::Result<()> {
    let reset = match args.from {
        StartFrom::Earliest => pb::StartPosition::Earliest,
        StartFrom::Latest => pb::StartPosition::Latest,
        _ => anyhow::bail!(
            "with --group, --from only says where partitions without a commit start: earliest or latest"
        ),
    };
    let client = args.client.connect().await?;
    let options = MemberOptions {
        group: group.clone(),
        topics: vec![args.topic.clone()],
        instance_id: args.member_instance_id.clone(),
        session_timeout: args.session_timeout.map(Into::into),
        reset,
        ..MemberOptions::default()
    };
    let mut member = GroupMember::join(&client, options).await?;
    eprintln!("joined group {group} as {}", member.member_id());
    let mut out = io::stdout().lock();
    let mut printer = Printer::new(args.client.format, args.count);
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let event = tokio::select! {
            event = member.next() => event?,
            _ = &mut interrupted => break,
        };
        match event {
            MemberEvent::Assignment {
                generation,
                assigned,
                revoked,
                ..
            } => {
                eprintln!(
                    "generation {generation}: reading {}{}",
                    list(&assigned),
                    match revoked.is_empty() {
                        true => String::new(),
                        false => format!("; releasing {}", list(&revoked)),
                    }
                );
                // Every printed batch is committed already: release at once.
                if !revoked.is_empty() {
                    member.release(&revoked).await?;
                }
            }
            MemberEvent::Records { topic, records } => {
                let printed = printer.print(&records, &mut out)?;
                out.flush()?;
                commit(&mut member, &topic, &records[..printed]).await?;
                if printer.remaining == Some(0) {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// Commits, per partition, the offset after the last of `records`.
async fn commit(
    member: &mut GroupMember,
    topic: &str,
    records: &[pb::StoredRecord],
) -> anyhow::Result<()> {
    let next: BTreeMap<u32, u64> = records
        .iter()
        .map(|r| (r.partition, r.offset + 1))
        .collect();
    if next.is_empty() {
        return Ok(());
    }
    let offsets: Vec<(u32, u64)> = next.into_iter().collect();
    member.commit(topic, &offsets).await?;
    Ok(())
}

/// `topic/p` names, comma-separated; `nothing` for none.
fn list(partitions: &BTreeSet<Partition>) -> String {
    if partitions.is_empty() {
        return "nothing".into();
    }
    let names: Vec<String> = partitions.iter().map(|(t, p)| format!("{t}/{p}")).collect();
    names.join(", ")
}
