//! Rewinding or fast-forwarding a consumer group, like `kafka-consumer-groups
//! --reset-offsets`: the new positions are computed from each partition's bounds (or
//! time index) and stored as one ordinary commit, so a reset is as durable and atomic
//! as any commit. A dry run computes the same answer and stores nothing.

use std::sync::Arc;

use super::group_store::now_ms;
use super::group_types::{OffsetCommit, ResetResult, ResetTo, validate_group_name};
use super::groups::off_worker;
use super::partition::Partition;
use super::{Broker, BrokerError};

impl Broker {
    /// Moves `group` in one partition or every partition of `topic` to `to`. A group
    /// without commits is created by it. Returns each partition's old and new position.
    pub async fn reset_group_offsets(
        self: &Arc<Self>,
        group: &str,
        topic: &str,
        partition: Option<u32>,
        to: ResetTo,
        dry_run: bool,
    ) -> Result<Vec<ResetResult>, BrokerError> {
        validate_group_name(group)?;
        // Checked before the dry run too: it should say what the real run would.
        self.check_no_members(group, "resetting its offsets")?;
        let open = self.topic(topic)?;
        let partitions: Vec<Arc<Partition>> = match partition {
            Some(number) => vec![Arc::clone(open.partition(number)?)],
            None => open.partitions().to_vec(),
        };
        let (broker, group_name, topic_name) =
            (Arc::clone(self), group.to_string(), topic.to_string());
        let (results, pending) = off_worker(move || {
            let (group, topic) = (group_name, topic_name);
            let previous = broker.groups.committed(&group, &topic);
            let mut results = Vec::with_capacity(partitions.len());
            for p in &partitions {
                results.push(ResetResult {
                    partition: p.number(),
                    previous: previous.get(&p.number()).map(|c| c.next_offset),
                    next_offset: target(p, to)?,
                });
            }
            let mut pending = None;
            if !dry_run {
                let metadata = format!("reset at {}", now_ms());
                let entries: Vec<OffsetCommit> = results
                    .iter()
                    .map(|r| OffsetCommit {
                        partition: r.partition,
                        next_offset: r.next_offset,
                        metadata: metadata.clone(),
                    })
                    .collect();
                // The bounds may have moved since `target` read them; the commit checks
                // again and refuses rather than store a position past the end.
                let checked = broker.unless_members(&group, "resetting its offsets", || {
                    broker.commit_blocking(&group, &topic, &entries)
                })?;
                pending = Some((checked, entries));
            }
            Ok((results, pending))
        })
        .await?;
        if let Some((checked, entries)) = pending {
            self.finish_commit(checked, group, topic, &entries).await?;
            tracing::info!(%group, %topic, ?to, partitions = results.len(), "consumer group reset");
        }
        Ok(results)
    }
}

/// The next offset `to` names in partition `p`, always within its readable range.
fn target(p: &Partition, to: ResetTo) -> Result<u64, BrokerError> {
    let (earliest, latest) = p.bounds()?;
    Ok(match to {
        ResetTo::Earliest => earliest,
        ResetTo::Latest => latest,
        ResetTo::Offset(offset) => offset.clamp(earliest, latest),
        ResetTo::Timestamp(ts) => p.offset_for_timestamp(ts)?.unwrap_or(latest),
    })
}
