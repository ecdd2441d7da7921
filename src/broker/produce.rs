//! The write path: split a request by partition, append each part, report offsets.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::group_store::now_ms;
use super::producer_ids::ProducerIdentity;
use super::timestamp_bounds::TimestampWindow;
use super::{Broker, BrokerError, in_multi_thread_runtime};
use crate::cluster::Acks;
use crate::storage::producer_state::ProducerBatch;
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
    /// only if the partition's next offset equals it. On a replicated topic, `acks`
    /// says whether the answer waits for a majority of the replicas or for the
    /// leader alone (see [`Acks`]); on a single node both are the same.
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
        acks: Acks,
    ) -> Result<Vec<PartitionAppend>, BrokerError> {
        let topic = self.topic_synced(topic).await?;
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
        if self.cluster().is_some() {
            let name = topic.name();
            let pending = groups.iter().map(|(number, records)| {
                self.produce_replicated(name, *number, records, None, acks, expected_next_offset)
            });
            return futures_util::future::try_join_all(pending).await;
        }
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

    /// A new idempotent producer identity (see [`ProducerIds::init`]).
    ///
    /// [`ProducerIds::init`]: super::producer_ids::ProducerIds::init
    pub async fn init_producer(&self, name: Option<&str>) -> Result<ProducerIdentity, BrokerError> {
        if let (Some(cluster), Some(name)) = (self.cluster(), name) {
            let cluster = Arc::clone(cluster);
            return Box::pin(self.init_named_producer_replicated(&cluster, name)).await;
        }
        let ids = &self.producer_ids;
        let name = name.map(str::to_string);
        // Storing a new block of ids or a name's epoch syncs a file.
        blocking(move || ids.init(name.as_deref()))
    }

    /// Appends `records` to one partition as a batch of an idempotent producer: a
    /// retry of one of its last five batches returns the original offsets with
    /// `duplicate` set and writes nothing; a gap in its sequences, an older epoch than
    /// its newest, or an id this broker never issued is refused. The duplicate check
    /// comes before `expected_next_offset`'s. `acks` as for [`Broker::produce`].
    pub async fn produce_idempotent(
        &self,
        topic: &str,
        partition: u32,
        records: Vec<Record>,
        producer: ProducerBatch,
        expected_next_offset: Option<u64>,
        acks: Acks,
    ) -> Result<PartitionAppend, BrokerError> {
        let topic = self.topic_synced(topic).await?;
        if records.is_empty() {
            return Err(BrokerError::InvalidRequest(
                "a produce request needs at least one record".into(),
            ));
        }
        self.check_producer(producer.producer_id, producer.epoch)?;
        TimestampWindow::of(&topic.config(), now_ms()).check(topic.name(), &records)?;
        let target = Arc::clone(topic.partition(partition)?);
        if self.cluster().is_some() {
            return self
                .produce_replicated(
                    topic.name(),
                    partition,
                    &records,
                    Some(producer),
                    acks,
                    expected_next_offset,
                )
                .await;
        }
        let info =
            blocking(move || target.append_as(&records, expected_next_offset, Some(producer)))?;
        Ok(PartitionAppend { partition, info })
    }
}

/// Runs `work`, which blocks on the disk, without stalling the runtime: in place on a
/// multi-thread runtime (other tasks move to other workers), else directly.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    if in_multi_thread_runtime() {
        tokio::task::block_in_place(work)
    } else {
        work()
    }
}
