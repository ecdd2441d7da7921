//! Reads of partitions this node holds no replica of: in a cluster whose topics have
//! fewer replicas than it has nodes, a client may still read any partition through
//! any node. This node hands the read to a node holding a replica
//! ([`Cluster::read_elsewhere`]) and answers with what that replica committed, as it
//! answers reads of its own replicas.
//!
//! - **Both sides**: the asking node ([`fetch_elsewhere`] and friends) and the
//!   answering one ([`Broker::read_for_peer`], [`Broker::offsets_for_peer`], which
//!   read only the node's own replica, so a read never travels twice).
//! - **Batches travel**: the answer is the stored batches as bytes, whatever the
//!   client asked for; a client that wants records gets them decoded here, with the
//!   CRC of every batch checked again after the network.
//! - **Offsets out of range** come back as such, so the client sees OUT_OF_RANGE with
//!   the replica's bounds, as from a replica of its own.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::partition::Partition;
use super::read::{FetchRequest, PartitionOffsets, local_offsets};
use super::{Broker, BrokerError, blocking};
use crate::cluster::remote_read::RemoteReadFailure;
use crate::cluster::runtime::Cluster;
use crate::proto::cluster::{
    RemoteOffsetsReply, RemoteOffsetsRequest, RemoteReadReply, RemoteReadRequest,
};
use crate::storage::batch::{self, BatchFormat};
use crate::storage::{LogStats, RawRead, ReadError, ReadLimits, ReadOutcome, StoredRecord};

/// How long the answering node of a forwarded read waits for its replica to learn
/// that the group committed up to the offset asked for: a follower hears of the
/// leader's commit index with the leader's next message, so a position read through
/// another node may be a moment ahead of it.
pub(super) const COMMIT_LAG_WAIT: Duration = Duration::from_secs(2);

/// Reads stored batches of `partition` (held elsewhere) through a node holding a
/// replica, waiting there up to `max_wait` for data.
pub(super) async fn fetch_raw_elsewhere(
    cluster: &Cluster,
    partition: &Partition,
    offset: u64,
    limits: ReadLimits,
    max_wait: Duration,
) -> Result<RawRead, BrokerError> {
    let request = RemoteReadRequest {
        topic: partition.ident().topic.clone(),
        partition: partition.number(),
        offset,
        max_records: u32::try_from(limits.max_records).unwrap_or(u32::MAX),
        max_bytes: limits.max_bytes as u64,
        max_wait_ms: u64::try_from(max_wait.as_millis()).unwrap_or(u64::MAX),
    };
    let reply = cluster
        .read_elsewhere(request)
        .await
        .map_err(|failure| unavailable(partition, failure))?;
    if reply.out_of_range {
        return Err(partition.read_error(ReadError::OutOfRange {
            offset,
            log_start: reply.log_start_offset,
            high_watermark: reply.high_watermark,
        }));
    }
    Ok(raw_read_of(reply))
}

/// [`fetch_raw_elsewhere`], decoded into records: those at `offset` and after, at
/// most `limits` of them (at least one when there is any).
pub(super) async fn fetch_elsewhere(
    cluster: &Cluster,
    partition: &Partition,
    offset: u64,
    limits: ReadLimits,
    max_wait: Duration,
) -> Result<ReadOutcome, BrokerError> {
    let read = fetch_raw_elsewhere(cluster, partition, offset, limits, max_wait).await?;
    records_of(partition, &read, offset, limits)
}

/// The bounds of `partition` (held elsewhere) as a node holding a replica knows
/// them, and the first offset at or after `timestamp_ms` when asked.
pub(super) async fn offsets_elsewhere(
    cluster: &Cluster,
    partition: &Partition,
    timestamp_ms: Option<i64>,
) -> Result<PartitionOffsets, BrokerError> {
    let reply = ask_offsets(cluster, partition, timestamp_ms).await?;
    Ok(PartitionOffsets {
        partition: partition.number(),
        earliest: reply.earliest,
        latest: reply.latest,
        for_timestamp: reply.for_timestamp,
    })
}

/// The statistics of `partition` (held elsewhere) as a node holding a replica
/// reports them.
pub(super) async fn stats_elsewhere(
    cluster: &Cluster,
    partition: &Partition,
) -> Result<LogStats, BrokerError> {
    let reply = ask_offsets(cluster, partition, None).await?;
    Ok(LogStats {
        log_start_offset: reply.earliest,
        high_watermark: reply.latest,
        segment_count: usize::try_from(reply.segment_count).unwrap_or(usize::MAX),
        size_bytes: reply.size_bytes,
    })
}

async fn ask_offsets(
    cluster: &Cluster,
    partition: &Partition,
    timestamp_ms: Option<i64>,
) -> Result<RemoteOffsetsReply, BrokerError> {
    let request = RemoteOffsetsRequest {
        topic: partition.ident().topic.clone(),
        partition: partition.number(),
        timestamp_ms,
    };
    cluster
        .offsets_elsewhere(request)
        .await
        .map_err(|failure| unavailable(partition, failure))
}

impl Broker {
    /// Serves another node's forwarded read from this node's own replica (never
    /// forwarding it again): the stored batches from `request.offset` on, after
    /// waiting up to the request's wait for data.
    pub async fn read_for_peer(&self, request: FetchRequest) -> Result<RawRead, BrokerError> {
        let topic = self.topic_synced(&request.topic).await?;
        let partition = topic.partition(request.partition)?;
        if let Some(reason) = partition.held_elsewhere() {
            return Err(partition_unavailable(partition, reason));
        }
        partition
            .await_committed(request.offset, COMMIT_LAG_WAIT)
            .await;
        self.fetch_raw(request).await
    }

    /// Serves another node's forwarded offsets request from this node's own replica:
    /// its bounds (and the first offset at or after `timestamp_ms`, when asked) and
    /// its statistics.
    pub async fn offsets_for_peer(
        &self,
        topic: &str,
        partition: u32,
        timestamp_ms: Option<i64>,
    ) -> Result<(PartitionOffsets, LogStats), BrokerError> {
        let open = self.topic_synced(topic).await?;
        let held = Arc::clone(open.partition(partition)?);
        if let Some(reason) = held.held_elsewhere() {
            return Err(partition_unavailable(&held, reason));
        }
        blocking(move || Ok((local_offsets(&held, timestamp_ms)?, held.stats()?))).await
    }
}

fn partition_unavailable(partition: &Partition, reason: String) -> BrokerError {
    BrokerError::PartitionUnavailable {
        topic: partition.ident().topic.clone(),
        partition: partition.number(),
        reason,
    }
}

/// A read that no other node could serve: UNAVAILABLE (the client retries), naming
/// what was tried.
fn unavailable(partition: &Partition, failure: RemoteReadFailure) -> BrokerError {
    let reason = match failure {
        RemoteReadFailure::Refused(status) => format!(
            "this node holds no replica, and the node holding one refused the read ({:?}): {}",
            status.code(),
            status.message()
        ),
        other => format!("this node holds no replica, and {other}"),
    };
    partition_unavailable(partition, reason)
}

fn raw_read_of(reply: RemoteReadReply) -> RawRead {
    RawRead {
        chunks: reply.chunks,
        batches: reply.batches as usize,
        records: reply.records,
        bytes: reply.bytes as usize,
        next_offset: reply.next_offset,
        high_watermark: reply.high_watermark,
        log_start_offset: reply.log_start_offset,
    }
}

/// The records at `from` and after in `read`'s batches, within `limits` (at least
/// one when there is any), after checking every batch's CRC; control batches are
/// skipped.
pub(super) fn records_of(
    partition: &Partition,
    read: &RawRead,
    from: u64,
    limits: ReadLimits,
) -> Result<ReadOutcome, BrokerError> {
    let damaged = |fault: batch::BatchFault| {
        BrokerError::Replication(format!(
            "a batch of {} forwarded by another node is damaged: {fault}",
            partition.ident()
        ))
    };
    let mut records: Vec<StoredRecord> = Vec::new();
    let mut bytes = 0usize;
    let mut next_offset = read.next_offset;
    'chunks: for chunk in &read.chunks {
        let mut rest: &[u8] = chunk;
        while !rest.is_empty() {
            let header = batch::check_crc(BatchFormat::V2, rest, u32::MAX).map_err(damaged)?;
            let (one, after) = rest.split_at(header.length as usize);
            rest = after;
            if header.is_control() || header.last_offset() < from {
                continue;
            }
            let decoded = batch::records(BatchFormat::V2, one, &header).map_err(damaged)?;
            let shared = Bytes::copy_from_slice(decoded.body());
            for view in decoded.iter() {
                let view = view.map_err(damaged)?;
                let record = view.to_stored_shared(header.base_offset, decoded.body(), &shared);
                if record.offset < from {
                    continue;
                }
                let full = records.len() >= limits.max_records
                    || (bytes + view.encoded_len > limits.max_bytes && !records.is_empty());
                if full {
                    next_offset = record.offset;
                    break 'chunks;
                }
                bytes += view.encoded_len;
                records.push(record);
            }
        }
    }
    Ok(ReadOutcome {
        records,
        next_offset,
        high_watermark: read.high_watermark,
        log_start_offset: read.log_start_offset,
    })
}
