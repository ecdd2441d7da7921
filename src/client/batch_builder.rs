//! Producer-built batches on the client: a request's records encoded into one
//! version 2 batch (base offset 0, CRC-32C set, with the idempotent producer's id,
//! epoch and base sequence in its header), which the server checks and writes as sent.
//! The encoder is storage's own, so the bytes are exactly what the server would write.

use bytes::Bytes;
use tonic::Status;

use crate::proto::v1 as pb;
use crate::storage::batch::v2::{self, BatchMeta};
use crate::storage::{Header, Record};

/// Encodes `records` into one batch; `producer` is (id, epoch, base sequence) for an
/// idempotent producer. Records without a timestamp get this machine's clock.
pub fn build_batch(
    records: &[pb::Record],
    producer: Option<(i64, u32, u32)>,
) -> Result<Bytes, Status> {
    let now = now_ms();
    let converted: Vec<Record> = records
        .iter()
        .map(|r| Record {
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r
                .headers
                .iter()
                .map(|h| Header {
                    key: h.key.clone(),
                    value: h.value.clone(),
                })
                .collect(),
            timestamp_ms: r.timestamp_ms.unwrap_or(now),
        })
        .collect();
    let meta = match producer {
        Some((id, epoch, sequence)) => BatchMeta {
            producer_id: id,
            producer_epoch: i16::try_from(epoch).map_err(|_| {
                Status::invalid_argument(format!("producer epoch {epoch} exceeds {}", i16::MAX))
            })?,
            base_sequence: i32::try_from(sequence).map_err(|_| {
                Status::invalid_argument(format!("sequence {sequence} exceeds {}", i32::MAX))
            })?,
            ..BatchMeta::default()
        },
        None => BatchMeta::default(),
    };
    let mut buf = Vec::new();
    let numbered = converted.iter().enumerate().map(|(i, r)| (i as u32, r));
    v2::encode(&mut buf, numbered, &meta).map_err(|e| {
        Status::invalid_argument(format!("invalid record at index {}: {}", e.index, e.reason))
    })?;
    Ok(Bytes::from(buf))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
