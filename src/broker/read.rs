//! The read path: fetch with long-poll, and offset lookups. In a cluster, a partition
//! this node holds no replica of is read through a node that holds one
//! ([`super::remote_read`]).

use std::sync::Arc;
use std::time::Duration;

use super::partition::Partition;
use super::remote_read;
use super::{Broker, BrokerError, blocking};
use crate::cluster::runtime::Cluster;
use crate::storage::{RawRead, ReadLimits, ReadOutcome};

/// Most records one fetch returns, whatever the client asks.
pub const MAX_FETCH_RECORDS: usize = 10_000;
/// Most bytes one fetch returns (beyond one oversized record), whatever the client asks.
/// Kept well below the gRPC message limit so a response always fits.
pub const MAX_FETCH_BYTES: usize = 16 << 20;
/// Longest long-poll wait.
pub const MAX_FETCH_WAIT: Duration = Duration::from_secs(60);

/// A fetch of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: u32,
    /// First offset to read.
    pub offset: u64,
    /// Bounds of the answer; capped at [`MAX_FETCH_RECORDS`] and [`MAX_FETCH_BYTES`].
    pub limits: ReadLimits,
    /// How long to wait for data when there is none at `offset`; capped at
    /// [`MAX_FETCH_WAIT`].
    pub max_wait: Duration,
}

/// Offsets of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionOffsets {
    /// The partition.
    pub partition: u32,
    /// First readable offset.
    pub earliest: u64,
    /// Next offset to be written.
    pub latest: u64,
    /// First offset with a timestamp at or after the requested time, if asked and found.
    pub for_timestamp: Option<u64>,
}

impl Broker {
    /// Reads records; when none exist at the offset yet, waits up to `max_wait` and
    /// returns as soon as some arrive.
    ///
    /// The read runs on the calling task rather than in `block_in_place`: it reads the
    /// segment's memory map (page cache, for the recent data fetches mostly ask for)
    /// and takes microseconds, while `block_in_place` hands this worker's queue to
    /// another thread and back, several context switches per fetch (on 2 cores: about
    /// 8 per fetch of 1000 records with it, under 2 without; `docs/benchmarks.md`).
    /// The cost: a read of pages not in memory faults them in on this worker, and the
    /// worker's other tasks wait that long unless another worker steals them.
    pub async fn fetch(&self, request: FetchRequest) -> Result<ReadOutcome, BrokerError> {
        match self.ready_to_read(&request).await? {
            Ready::Here(partition, limits) => partition.read(request.offset, limits),
            Ready::Elsewhere(cluster, partition, limits, wait) => {
                remote_read::fetch_elsewhere(&cluster, &partition, request.offset, limits, wait)
                    .await
            }
        }
    }

    /// [`Broker::fetch`], answered with the stored batches as bytes (see
    /// [`Log::read_raw`](crate::storage::Log::read_raw)): the limits count whole
    /// batches.
    pub async fn fetch_raw(&self, request: FetchRequest) -> Result<RawRead, BrokerError> {
        match self.ready_to_read(&request).await? {
            Ready::Here(partition, limits) => partition.read_raw(request.offset, limits),
            Ready::Elsewhere(cluster, partition, limits, wait) => {
                remote_read::fetch_raw_elsewhere(&cluster, &partition, request.offset, limits, wait)
                    .await
            }
        }
    }

    /// What both fetches share: the partition and the request's limits, bounded;
    /// for a partition read here, after waiting (at most the request's wait, capped)
    /// for data at the offset; for one held elsewhere, the wait is left to the node
    /// that serves it.
    async fn ready_to_read(&self, request: &FetchRequest) -> Result<Ready, BrokerError> {
        let topic = self.topic_synced(&request.topic).await?;
        let partition = Arc::clone(topic.partition(request.partition)?);
        let max_wait = request.max_wait.min(MAX_FETCH_WAIT);
        let limits = ReadLimits {
            max_records: request.limits.max_records.clamp(1, MAX_FETCH_RECORDS),
            max_bytes: request.limits.max_bytes.clamp(1, MAX_FETCH_BYTES),
        };
        if let Some(cluster) = self.serving_cluster(&partition) {
            return Ok(Ready::Elsewhere(cluster, partition, limits, max_wait));
        }
        if !max_wait.is_zero() {
            self.wait_for_data(&partition, request.offset, max_wait)
                .await?;
        }
        Ok(Ready::Here(partition, limits))
    }

    /// The cluster to read `partition` through, when this node holds no replica of it.
    pub(super) fn serving_cluster(&self, partition: &Partition) -> Option<Arc<Cluster>> {
        let cluster = self.cluster()?;
        partition.held_elsewhere().map(|_| Arc::clone(cluster))
    }

    /// Returns once the high watermark is no longer `offset` (data arrived, or the offset
    /// was out of range to begin with, which the read then reports) or `max_wait` passed.
    async fn wait_for_data(
        &self,
        partition: &Partition,
        offset: u64,
        max_wait: Duration,
    ) -> Result<(), BrokerError> {
        let mut progress = partition.watch();
        let deadline = tokio::time::sleep(max_wait);
        tokio::pin!(deadline);
        loop {
            let now = *progress.borrow_and_update();
            if !now.open {
                return Err(partition.closed_error());
            }
            if now.high_watermark != offset {
                return Ok(());
            }
            tokio::select! {
                changed = progress.changed() => if changed.is_err() { return Ok(()) },
                () = &mut deadline => return Ok(()),
                () = self.shutdown.cancelled() => return Err(BrokerError::ShuttingDown),
            }
        }
    }

    /// Earliest and latest offsets of one or every partition, and optionally the first
    /// offset at or after `timestamp_ms`.
    pub async fn list_offsets(
        &self,
        topic: &str,
        partition: Option<u32>,
        timestamp_ms: Option<i64>,
    ) -> Result<Vec<PartitionOffsets>, BrokerError> {
        let topic = self.topic_synced(topic).await?;
        let partitions: Vec<Arc<Partition>> = match partition {
            Some(number) => vec![Arc::clone(topic.partition(number)?)],
            None => topic.partitions().to_vec(),
        };
        let (elsewhere, here): (Vec<_>, Vec<_>) = partitions
            .into_iter()
            .partition(|p| self.serving_cluster(p).is_some());
        let mut offsets: Vec<PartitionOffsets> = blocking(move || {
            here.iter()
                .map(|p| local_offsets(p, timestamp_ms))
                .collect()
        })
        .await?;
        for partition in elsewhere {
            if let Some(cluster) = self.serving_cluster(&partition) {
                let found =
                    remote_read::offsets_elsewhere(&cluster, &partition, timestamp_ms).await?;
                offsets.push(found);
            }
        }
        offsets.sort_by_key(|o| o.partition);
        Ok(offsets)
    }
}

/// What [`Broker::fetch`] and [`Broker::fetch_raw`] read from.
enum Ready {
    /// This node's log (or replica) of the partition, within these limits.
    Here(Arc<Partition>, ReadLimits),
    /// A replica on another node, within these limits, waiting there this long.
    Elsewhere(Arc<Cluster>, Arc<Partition>, ReadLimits, Duration),
}

/// `partition`'s bounds here, and its first offset at or after `timestamp_ms`.
pub(super) fn local_offsets(
    partition: &Partition,
    timestamp_ms: Option<i64>,
) -> Result<PartitionOffsets, BrokerError> {
    let (earliest, latest) = partition.bounds()?;
    let for_timestamp = match timestamp_ms {
        Some(ts) => partition.offset_for_timestamp(ts)?,
        None => None,
    };
    Ok(PartitionOffsets {
        partition: partition.number(),
        earliest,
        latest,
        for_timestamp,
    })
}
