//! Producer-built batches: a client sends one version 2 batch for one partition; it is
//! checked here (see [`check_client_batch`]) and written as sent, its offsets assigned,
//! with no record re-encoded.

use std::sync::Arc;

use bytes::Bytes;

use super::group_store::now_ms;
use super::produce::PartitionAppend;
use super::timestamp_bounds::TimestampWindow;
use super::{Broker, BrokerError, blocking};
use crate::cluster::Acks;
use crate::storage::client_batch::{CheckedBatch, check_client_batch};

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
        let checked =
            check_client_batch(&batch).map_err(|e| BrokerError::InvalidRequest(e.to_string()))?;
        if let Some(producer) = checked.producer() {
            self.check_producer(producer.producer_id, producer.epoch)?;
        }
        check_timestamps(
            &TimestampWindow::of(&topic.config(), now_ms()),
            topic.name(),
            &checked,
        )?;
        let target = Arc::clone(topic.partition(partition)?);
        if let Some(cluster) = self.cluster() {
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
            // The one copy of the request's bytes: the base offset and term are
            // stamped into it before it is written.
            let mut owned = batch.to_vec();
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
