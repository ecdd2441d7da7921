//! Producer-built batches on the client: a request's records encoded into one
//! version 2 batch (base offset 0, CRC-32C set, with the idempotent producer's id,
//! epoch and base sequence in its header), which the server checks and writes as sent.
//! The encoder is storage's own, so the bytes are exactly what the server would write.
//!
//! Records without a timestamp take the server's clock, as when the server encodes
//! them: a batch of such records is sent with the log-append-time bit (every timestamp
//! delta 0), and the server stamps its own clock into it on arrival. A request mixing
//! records with and without timestamps is not built here (see [`build_batch`]).

use bytes::Bytes;
use tonic::Status;

use crate::proto::v1 as pb;
use crate::storage::batch::v2::{self, BatchMeta};
use crate::storage::{Header, Record};

/// Encodes `records` into one batch; `producer` is (id, epoch, base sequence) for an
/// idempotent producer. When no record has a timestamp, the batch asks for the
/// server's clock (stamped on arrival). `None` when some records have a timestamp and
/// others not (one batch cannot leave only some timestamps to the server), or when
/// there are no records: such a request goes as records, and the server encodes or
/// refuses it with its own words.
pub fn build_batch(
    records: &[pb::Record],
    producer: Option<(i64, u32, u32)>,
) -> Result<Option<Bytes>, Status> {
    if records.is_empty() {
        return Ok(None);
    }
    let timed = records.iter().filter(|r| r.timestamp_ms.is_some()).count();
    let on_arrival = match timed {
        0 => true,
        n if n == records.len() => false,
        _ => return Ok(None),
    };
    // Replaced by the server's clock when stamped on arrival.
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
    let mut meta = match producer {
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
    if on_arrival {
        meta.attributes = v2::ATTR_LOG_APPEND_TIME;
    }
    let mut buf = Vec::new();
    let numbered = converted.iter().enumerate().map(|(i, r)| (i as u32, r));
    v2::encode(&mut buf, numbered, &meta).map_err(|e| {
        Status::invalid_argument(format!("invalid record at index {}: {}", e.index, e.reason))
    })?;
    Ok(Some(Bytes::from(buf)))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
