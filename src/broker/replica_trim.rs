//! Retention of a replicated partition, carried out: the cleaner thread decides how far
//! a replica's log may start (by the topic's retention time and size, as for a plain
//! partition) and hands the offset here; this task asks the replica's Raft group to
//! snapshot and purge up to it ([`PartitionReplica::trim_below`]), since deleting
//! segments under Raft's feet would lose entries a follower may still need.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::cluster::log_trim::Trim;
use crate::cluster::runtime::Cluster;
use crate::storage::LogIdent;

use super::partition::Partition;

/// Starts the task that trims `partition`'s replica in `cluster` on retention's
/// requests; it ends at `shutdown` or when the partition goes.
pub(super) fn start(cluster: &Arc<Cluster>, partition: &Partition, shutdown: CancellationToken) {
    let (requests, mut received) = mpsc::unbounded_channel::<u64>();
    if !partition.set_trimmer(requests) {
        // A replica restarted over the same partition: its first task still serves.
        return;
    }
    let cluster = Arc::downgrade(cluster);
    let ident = partition.ident().clone();
    tokio::spawn(async move {
        loop {
            let mut offset = tokio::select! {
                next = received.recv() => match next { Some(o) => o, None => return },
                () = shutdown.cancelled() => return,
            };
            // The cleaner asks every round; only the newest request matters.
            while let Ok(newer) = received.try_recv() {
                offset = offset.max(newer);
            }
            let Some(cluster) = cluster.upgrade() else {
                return;
            };
            trim(&cluster, &ident, offset).await;
        }
    });
}

async fn trim(cluster: &Cluster, ident: &LogIdent, offset: u64) {
    let Some(replica) = cluster.replica(&ident.topic, ident.partition) else {
        return;
    };
    match replica.trim_below(offset).await {
        Ok(Trim::Nothing) => {}
        Ok(Trim::SnapshotRequested { through }) => {
            tracing::debug!(partition = %ident, offset, through, "retention asked for a snapshot before purging");
        }
        Ok(Trim::PurgeRequested { through }) => {
            tracing::debug!(partition = %ident, offset, through, "retention asked for a purge");
        }
        Err(error) => {
            tracing::warn!(partition = %ident, offset, %error, "retention of a replica failed");
        }
    }
}
