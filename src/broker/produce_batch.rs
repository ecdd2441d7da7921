//! Producer-built batches: a client sends one version 2 batch for one partition; it is
//! checked here (see [`check_client_batch`]) and written as sent, its offsets assigned,
//! with no record re-encoded. A batch whose records carry no timestamps is stamped with
//! this node's clock first ([`stamp_arrival_time`]).

use std::sync::Arc;

use bytes::Bytes;

use super::group_store::now_ms;
use super::produce::PartitionAppend;
use super::timestamp_bounds::TimestampWindow;
use super::{Broker, BrokerError, blocking};
use crate::cluster::Acks;
use crate::storage::client_batch::{CheckedBatch, check_client_batch, stamp_arrival_time};

impl Broker {
    /// Appends the producer-built `batch` to `partition` of `topic` (only at
    /// `expected_next_offset` when given). A batch naming a producer is idempotent, as
    /// [`Broker::produce_idempotent`]; `acks` as for [`Broker::produce`]. A bad batch
    /// is refused with
    /// [`BrokerError::InvalidRequest`] naming what is wrong, and nothing is written.
    pub async fn produce_batch(
        &self,
        topic: &str,
        partition: u32,
        batch: Bytes,
        expected_next_offset: Option<u64>,
        acks: Acks,
    ) -> Result<PartitionAppend, BrokerError> {
        let topic = self.topic_synced(topic).await?;
        let mut checked =
            check_client_batch(&batch).map_err(|e| BrokerError::InvalidRequest(e.to_string()))?;
        if let Some(producer) = checked.producer() {
            self.check_producer(producer.producer_id, producer.epoch)?;
        }
        let now = now_ms();
        // The one copy of the request's bytes, made only where something is stamped
        // into them: arrival timestamps here, base offset and term on a single node
        // (a cluster stamps those into its own copy as it applies the entry).
        let mut owned = None;
        if checked.stamped_on_arrival() {
            let bytes = owned.insert(batch.to_vec());
            stamp_arrival_time(bytes, &mut checked, now);
        }
        check_timestamps(
            &TimestampWindow::of(&topic.config(), now),
            topic.name(),
            &checked,
        )?;
        let target = Arc::clone(topic.partition(partition)?);
        if let Some(cluster) = self.cluster() {
            let batch = owned.map_or(batch, Bytes::from);
            return self
                .propose_batch(
                    cluster,
                    topic.name(),
                    partition,
                    batch,
                    acks,
                    expected_next_offset,
                )
                .await;
        }
        let info = blocking(move || {
            let mut owned = owned.unwrap_or_else(|| batch.to_vec());
            target.append_client_batch(&mut owned, &checked, expected_next_offset)
        })
        .await?;
        Ok(PartitionAppend { partition, info })
    }
}

/// Refuses a batch with a record outside the topic's timestamp window, naming it.
fn check_timestamps(
    window: &TimestampWindow,
    topic: &str,
    checked: &CheckedBatch,
) -> Result<(), BrokerError> {
    for (timestamp_ms, index) in [checked.min_timestamp, checked.max_timestamp] {
        if !window.contains(timestamp_ms) {
            return Err(BrokerError::TimestampOutOfRange {
                topic: topic.to_string(),
                index,
                timestamp_ms,
                window: *window,
            });
        }
    }
    Ok(())
}
