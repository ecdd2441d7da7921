//! The answering side of `eventlog.cluster.v1.PartitionReads`: another node, holding
//! no replica of a partition, forwards a client's read here (see
//! `broker::remote_read`). Answered from this node's own replica only; an offset out
//! of its range is answered as such (with its bounds) rather than as an error, so the
//! asking node can tell its client exactly what a replica of its own would have.

use std::sync::Arc;
use std::time::Duration;

use tonic::{Request, Response, Status};

use crate::broker::{Broker, BrokerError, FetchRequest};
use crate::proto::cluster::partition_reads_server::PartitionReads;
use crate::proto::cluster::{
    RemoteOffsetsReply, RemoteOffsetsRequest, RemoteReadReply, RemoteReadRequest,
};
use crate::storage::{RawRead, ReadError, ReadLimits};

/// The `PartitionReads` service of one node.
pub struct PartitionReadsService {
    broker: Arc<Broker>,
}

impl PartitionReadsService {
    /// The service reading `broker`'s replicas.
    pub fn new(broker: Arc<Broker>) -> PartitionReadsService {
        PartitionReadsService { broker }
    }
}

#[tonic::async_trait]
impl PartitionReads for PartitionReadsService {
    async fn read(
        &self,
        request: Request<RemoteReadRequest>,
    ) -> Result<Response<RemoteReadReply>, Status> {
        let request = request.into_inner();
        let fetch = FetchRequest {
            topic: request.topic,
            partition: request.partition,
            offset: request.offset,
            limits: ReadLimits {
                max_records: request.max_records as usize,
                max_bytes: usize::try_from(request.max_bytes).unwrap_or(usize::MAX),
            },
            max_wait: Duration::from_millis(request.max_wait_ms),
        };
        match self.broker.read_for_peer(fetch).await {
            Ok(read) => Ok(Response::new(reply_of(read))),
            Err(error) => match out_of_range(&error) {
                Some((log_start, high_watermark)) => Ok(Response::new(RemoteReadReply {
                    high_watermark,
                    log_start_offset: log_start,
                    out_of_range: true,
                    ..RemoteReadReply::default()
                })),
                None => Err(error.into()),
            },
        }
    }

    async fn offsets(
        &self,
        request: Request<RemoteOffsetsRequest>,
    ) -> Result<Response<RemoteOffsetsReply>, Status> {
        let request = request.into_inner();
        let (offsets, stats) = self
            .broker
            .offsets_for_peer(&request.topic, request.partition, request.timestamp_ms)
            .await?;
        Ok(Response::new(RemoteOffsetsReply {
            earliest: offsets.earliest,
            latest: offsets.latest,
            for_timestamp: offsets.for_timestamp,
            segment_count: stats.segment_count as u64,
            size_bytes: stats.size_bytes,
        }))
    }
}

/// The bounds an offset-out-of-range error names.
fn out_of_range(error: &BrokerError) -> Option<(u64, u64)> {
    match error {
        BrokerError::Read { source, .. } => match source.as_ref() {
            ReadError::OutOfRange {
                log_start,
                high_watermark,
                ..
            } => Some((*log_start, *high_watermark)),
            _ => None,
        },
        _ => None,
    }
}

fn reply_of(read: RawRead) -> RemoteReadReply {
    RemoteReadReply {
        chunks: read.chunks,
        batches: read.batches as u64,
        records: read.records,
        bytes: read.bytes as u64,
        next_offset: read.next_offset,
        high_watermark: read.high_watermark,
        log_start_offset: read.log_start_offset,
        out_of_range: false,
    }
}
