//! Decoding the stored batches of a `RAW_BATCHES` delivery on the client: every
//! batch's CRC-32C is checked here (end to end: the server checked it against the disk,
//! this checks it after the network), compressed batches are decompressed, and records
//! below the offset asked for (the first batch may begin before it) are skipped, as
//! Kafka clients do. The decoding functions are storage's own pure ones.

use bytes::Bytes;

use crate::proto::v1 as pb;
use crate::storage::batch::{self, BatchFormat, RecordView};

/// A batch in a reply that does not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a received batch is damaged: {0}")]
pub struct RawBatchError(pub String);

impl From<RawBatchError> for tonic::Status {
    fn from(error: RawBatchError) -> Self {
        tonic::Status::data_loss(error.to_string())
    }
}

/// The batch versions this client decodes (to declare in `batch_versions`).
pub const DECODED_BATCH_VERSIONS: [u32; 1] = [2];

/// Calls `visit` with the offset and view of every record at or after `from` in
/// `chunks` (each one or more whole version 2 batches), in order, after checking each
/// batch's CRC. Control batches are skipped. Returns the number of records visited.
pub fn for_each_record(
    chunks: &[Bytes],
    from: u64,
    mut visit: impl FnMut(u64, &RecordView<'_>),
) -> Result<u64, RawBatchError> {
    let mut visited = 0;
    let fault = |f: batch::BatchFault| RawBatchError(f.to_string());
    for chunk in chunks {
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            let header = batch::check_crc(BatchFormat::V2, rest, u32::MAX).map_err(fault)?;
            let (one, after) = rest.split_at(header.length as usize);
            rest = after;
            if header.is_control() || header.last_offset() < from {
                continue;
            }
            let records = batch::records(BatchFormat::V2, one, &header).map_err(fault)?;
            for record in records.iter() {
                let record = record.map_err(fault)?;
                let offset = header.base_offset + u64::from(record.offset_delta);
                if offset >= from {
                    visit(offset, &record);
                    visited += 1;
                }
            }
        }
    }
    Ok(visited)
}

/// The records at or after `from` in `chunks`, as protobuf records of `partition`.
pub fn decode_records(
    partition: u32,
    chunks: &[Bytes],
    from: u64,
) -> Result<Vec<pb::StoredRecord>, RawBatchError> {
    let mut out = Vec::new();
    for_each_record(chunks, from, |offset, record| {
        let stored = record.to_stored(offset - u64::from(record.offset_delta));
        out.push(pb::StoredRecord {
            partition,
            offset: stored.offset,
            timestamp_ms: stored.timestamp_ms,
            key: stored.key,
            value: stored.value,
            headers: stored
                .headers
                .into_iter()
                .map(|h| pb::Header {
                    key: h.key,
                    value: h.value,
                })
                .collect(),
        });
    })?;
    Ok(out)
}
