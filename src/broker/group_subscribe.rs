//! Subscribing from a consumer group's committed offsets.
//!
//! Each partition starts at the group's committed `next_offset`. Two cases need a
//! choice, and both favour re-reading over skipping:
//! - no commit for the partition: the request's [`NoCommitStart`] (earliest by default);
//! - a commit below the log start (retention removed what the group had not read yet):
//!   the log start, the oldest record still there. A commit above the high watermark
//!   (possible only if records acknowledged under a relaxed fsync policy were lost in a
//!   crash) starts at the high watermark.

use std::sync::Arc;

use super::group_types::{NoCommitStart, validate_group_name};
use super::partition::Partition;
use super::{Broker, BrokerError, PartitionOffsets, Subscription};
use crate::storage::ReadLimits;

impl Broker {
    /// Starts a subscription to one partition or every partition of `topic`, each at
    /// `group`'s committed offset (see the module docs for partitions without one).
    pub async fn subscribe_group(
        &self,
        topic: &str,
        partition: Option<u32>,
        group: &str,
        no_commit: NoCommitStart,
        chunk: ReadLimits,
    ) -> Result<Subscription, BrokerError> {
        validate_group_name(group)?;
        let open = self.topic(topic)?;
        let partitions: Vec<Arc<Partition>> = match partition {
            Some(number) => vec![Arc::clone(open.partition(number)?)],
            None => open.partitions().to_vec(),
        };
        let committed = self.groups.committed(group, topic);
        let start_of = move |p: &Partition, bounds: &PartitionOffsets| {
            let (earliest, latest) = (bounds.earliest, bounds.latest);
            Ok(match (committed.get(&p.number()), no_commit) {
                (Some(c), _) => c.next_offset.clamp(earliest, latest),
                (None, NoCommitStart::Earliest) => earliest,
                (None, NoCommitStart::Latest) => latest,
            })
        };
        self.subscribe_from(partitions, None, start_of, chunk).await
    }
}
