//! `eventlog consume TOPIC --group G --follow`: consume as a member of the group. The
//! server splits the topic's partitions among the group's members; this one prints the
//! records of its partitions, commits each batch after printing it, and when a
//! partition is taken away (another member joined) it releases it once its last batch
//! is committed. Stopping it (Ctrl-C, or killing it) hands its partitions to the other
//! members, which continue from its commits.
//!
//! Membership changes are reported on stderr, so stdout carries only records. When the
//! member loses its membership (its session expired during a pause, or the server
//! restarted), it joins again and resumes from the group's commits.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::time::Duration;

use tonic::Code;

use super::consume::{ConsumeArgs, Printer};
use super::parse::StartFrom;
use crate::client::group_member::{
    GroupMember, MemberError, MemberEvent, MemberOptions, Partition,
};
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
    let mut out = io::stdout().lock();
    let mut printer = Printer::new(args.client.format, args.count);
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let mut rejoining = false;
    loop {
        let joined = tokio::select! {
            joined = GroupMember::join(&client, options.clone()) => joined,
            _ = &mut interrupted => return Ok(()),
        };
        let mut member = match joined {
            Ok(member) => member,
            // The server is restarting: keep trying, as a follower should.
            Err(err) if rejoining && is_unavailable(&err) => {
                tokio::time::sleep(REJOIN_PAUSE).await;
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        eprintln!("joined group {group} as {}", member.member_id());
        let served = tokio::select! {
            served = consume(&mut member, &mut printer, &mut out) => served,
            _ = &mut interrupted => return Ok(()),
        };
        match served {
            Ok(()) => return Ok(()),
            Err(err) if should_rejoin(&err) => {
                eprintln!("{err}; rejoining group {group}");
                rejoining = true;
                tokio::time::sleep(REJOIN_PAUSE).await;
            }
            Err(err) => return Err(err),
        }
    }
}

/// Pause before joining again after losing membership.
const REJOIN_PAUSE: Duration = Duration::from_secs(1);

/// Prints and commits the member's records until `--count` is reached or it fails.
async fn consume(
    member: &mut GroupMember,
    printer: &mut Printer,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    loop {
        match member.next().await? {
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
                let printed = printer.print(&records, out)?;
                out.flush()?;
                commit(member, &topic, &records[..printed]).await?;
                if printer.remaining == Some(0) {
                    return Ok(());
                }
            }
        }
    }
}

/// Membership lost in a way a new join repairs: the member was removed (its session
/// expired while it was paused), lost contact, or the server went away.
fn should_rejoin(err: &anyhow::Error) -> bool {
    match err.downcast_ref::<MemberError>() {
        Some(MemberError::LostContact(_) | MemberError::Ended) => true,
        Some(MemberError::Status(status)) => matches!(
            status.code(),
            Code::FailedPrecondition | Code::Unavailable | Code::Unknown | Code::Cancelled
        ),
        None => false,
    }
}

fn is_unavailable(err: &MemberError) -> bool {
    matches!(err, MemberError::Status(s) if matches!(s.code(), Code::Unavailable | Code::Unknown))
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
