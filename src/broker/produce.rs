//! The write path: split a request by partition, append each part, report offsets.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::group_store::now_ms;
use super::timestamp_bounds::TimestampWindow;
use super::{Broker, BrokerError, in_multi_thread_runtime};
use crate::storage::{AppendInfo, Record};

/// Where the records of one partition landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionAppend {
    /// The partition.
    pub partition: u32,
    /// Offsets and timestamp of the appended batch.
    pub info: AppendInfo,
}

impl Broker {
    /// Appends `records` to `topic`: all to `partition` when given, else each record to
    /// the partition of its key (keyless records round-robin). Order within a partition
    /// follows `records`. With `expected_next_offset` (which needs a partition), appends
    /// only if the partition's next offset equals it.
    ///
    /// Each partition's records form one batch; partitions are appended concurrently. If
    /// one partition fails, the others may still have been written (there is no
    /// cross-partition atomicity), and the error names the partition that failed.
    pub async fn produce(
        &self,
        topic: &str,
        partition: Option<u32>,
        records: Vec<Record>,
        expected_next_offset: Option<u64>,
    ) -> Result<Vec<PartitionAppend>, BrokerError> {
        let topic = self.topic(topic)?;
        if records.is_empty() {
            return Err(BrokerError::InvalidRequest(
                "a produce request needs at least one record".into(),
            ));
        }
        if expected_next_offset.is_some() && partition.is_none() {
            return Err(BrokerError::InvalidRequest(
                "expected_next_offset needs an explicit partition".into(),
            ));
        }
        // Before any partition is touched, so a refused request appends nothing.
        TimestampWindow::of(&topic.config(), now_ms()).check(topic.name(), &records)?;
        let groups = match partition {
            Some(number) => {
                topic.partition(number)?;
                BTreeMap::from([(number, records)])
            }
            None => {
                let mut groups: BTreeMap<u32, Vec<Record>> = BTreeMap::new();
                for record in records {
                    groups
                        .entry(topic.place(record.key.as_deref()))
                        .or_default()
                        .push(record);
                }
                groups
            }
        };
        if groups.len() == 1 && in_multi_thread_runtime() {
            // One partition (the common case): block this worker in place rather than
            // hop to the blocking pool and back. On a small machine each cross-thread
            // wake-up costs more than the append itself; tokio moves this worker's other
            // tasks to another thread while the append (and its fsync) runs.
            let (number, records) = groups.into_iter().next().expect("one group");
            let partition = Arc::clone(topic.partition(number)?);
            let info =
                tokio::task::block_in_place(|| partition.append(&records, expected_next_offset))?;
            return Ok(vec![PartitionAppend {
                partition: number,
                info,
            }]);
        }
        let mut pending = Vec::with_capacity(groups.len());
        for (number, records) in groups {
            let partition = Arc::clone(topic.partition(number)?);
            pending.push(tokio::task::spawn_blocking(move || {
                let info = partition.append(&records, expected_next_offset)?;
                Ok::<_, BrokerError>(PartitionAppend {
                    partition: number,
                    info,
                })
            }));
        }
        let mut appended = Vec::with_capacity(pending.len());
        for task in pending {
            appended.push(task.await??);
        }
        Ok(appended)
    }
}
