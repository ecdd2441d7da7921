//! On-demand compaction of a replicated topic's replicas on other nodes: the node that
//! serves `CompactTopic` asks every other node holding replicas of the topic to
//! compact its own at the same time as it compacts its own (see
//! `cluster::remote_compact`), so the answer covers every replica. A node that cannot
//! be asked is reported, not fatal: its replicas still compact in the background.

use std::time::Duration;

use futures_util::future::join_all;

use super::cleanup::{PartitionCompaction, TopicCompaction};
use crate::cluster::runtime::Cluster;
use crate::proto::cluster::RemoteCompactRequest;
use crate::proto::v1::PartitionCompaction as WireCompaction;
use crate::storage::CompactionStats;

/// Asks every other node holding replicas of `topic` to compact them; what each did,
/// and the nodes that could not.
pub async fn compact_elsewhere(cluster: &Cluster, topic: &str, dry_run: bool) -> TopicCompaction {
    let nodes = cluster.other_holders_of(topic);
    let asks = nodes.iter().map(|node| {
        let request = RemoteCompactRequest {
            topic: topic.to_string(),
            dry_run,
        };
        cluster.compact_on(*node, request)
    });
    let mut done = TopicCompaction::default();
    for (node, answer) in nodes.iter().zip(join_all(asks).await) {
        match answer {
            Ok(reply) => done.replicas.extend(
                reply
                    .partitions
                    .iter()
                    .map(|replica| partition_compaction(*node, replica)),
            ),
            Err(reason) => done.unreachable.push((*node, reason)),
        }
    }
    done
}

/// A replica's compaction as `node` reported it (the node it names is the one asked).
fn partition_compaction(node: u64, replica: &WireCompaction) -> PartitionCompaction {
    PartitionCompaction {
        partition: replica.partition,
        node,
        stats: CompactionStats {
            segments_before: usize::try_from(replica.segments_before).unwrap_or(usize::MAX),
            segments_after: usize::try_from(replica.segments_after).unwrap_or(usize::MAX),
            bytes_before: replica.bytes_before,
            bytes_after: replica.bytes_after,
            records_removed: replica.records_removed,
            tombstones_removed: replica.tombstones_removed,
            passes: 0,
            duration: Duration::from_millis(replica.duration_ms),
        },
    }
}
