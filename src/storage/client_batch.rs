//! Producer-built batches: a version 2 batch encoded by a client, checked before it is
//! written as sent.
//!
//! The CRC-32C of a version 2 batch covers everything from the attributes on, but not
//! the base offset, the length or the leader term: the server stamps the offsets and
//! the term without recomputing it, and never re-encodes a record. The records are
//! still walked once (lengths and varints, no copy, no allocation): a CRC only proves
//! the bytes are the ones the client sent, not that they parse, and a stored batch that
//! does not parse would fail every later reader with DATA_LOSS. The walk also gives the
//! record count, the offset deltas and the timestamps that the header must agree with
//! (the time index is built from the header's max timestamp).
//!
//! **Stamped on arrival.** A producer whose records carry no timestamp of their own
//! sets the log-append-time attribute bit with every timestamp delta 0; the server then
//! writes its own clock into the base and max timestamps, clears the bit and computes
//! the CRC again ([`stamp_arrival_time`]). The stored batch is then exactly the
//! create-time batch the server would have encoded from the same records (records
//! without a timestamp take the server's clock either way), so nothing changes on disk,
//! and a topic's timestamp window never judges the producer machine's clock.

use super::batch::{self, BatchFault, BatchFormat, BatchHeader, NO_PRODUCER, v2};
use super::producer_state::ProducerBatch;

/// Why a producer-built batch is refused; the message names what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid batch: {0}")]
pub struct ClientBatchError(pub String);

/// A producer-built batch that passed [`check_client_batch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckedBatch {
    /// Its header.
    pub header: BatchHeader,
    /// The smallest record timestamp and the index of its record.
    pub min_timestamp: (i64, usize),
    /// The largest record timestamp and the index of its record.
    pub max_timestamp: (i64, usize),
}

impl CheckedBatch {
    /// Whether the producer asked for the server's clock (the log-append-time bit):
    /// [`stamp_arrival_time`] must run before the batch is written.
    pub fn stamped_on_arrival(&self) -> bool {
        self.header.log_append_time()
    }

    /// The idempotent producer fields of the batch, if it has a producer.
    pub fn producer(&self) -> Option<ProducerBatch> {
        (self.header.producer_id != NO_PRODUCER).then_some(ProducerBatch {
            producer_id: self.header.producer_id,
            epoch: self.header.producer_epoch,
            base_sequence: self.header.base_sequence,
        })
    }
}

fn refuse<T>(why: String) -> Result<T, ClientBatchError> {
    Err(ClientBatchError(why))
}

/// Checks that `bytes` is exactly one version 2 batch a producer may send: the length
/// field matches, magic 2, the CRC matches, base offset 0, no control, transactional
/// or delete-horizon attribute, at least one record, records numbered 0, 1, 2... by
/// their offset deltas and counted right, a max timestamp that is the records' largest,
/// and producer fields all set or all `-1`. With the log-append-time bit (stamped on
/// arrival), every record's timestamp delta must be 0.
pub fn check_client_batch(bytes: &[u8]) -> Result<CheckedBatch, ClientBatchError> {
    if bytes.len() < v2::HEADER_LEN {
        return refuse(format!(
            "{} bytes is shorter than the {}-byte batch header",
            bytes.len(),
            v2::HEADER_LEN
        ));
    }
    let stated = v2::peek_length(bytes).unwrap_or(0) as usize;
    if stated != bytes.len() {
        return refuse(format!(
            "the batch length field gives {stated} bytes in all but the batch has {}",
            bytes.len()
        ));
    }
    let header = match v2::check_crc(bytes, u32::MAX) {
        Ok(header) => header,
        Err(BatchFault::BadCrc { stored, computed }) => {
            return refuse(format!(
                "crc mismatch: the batch says {stored:#010x}, its bytes give {computed:#010x}"
            ));
        }
        Err(fault) => return refuse(fault.to_string()),
    };
    check_header(&header)?;
    // Walked as a create-time batch, so that the records' own timestamps are seen even
    // when the log-append-time bit would have readers take the header's.
    let as_create_time = BatchHeader {
        attributes: header.attributes & !v2::ATTR_LOG_APPEND_TIME,
        ..header
    };
    let (min_timestamp, max_timestamp) = walk_records(bytes, &as_create_time)?;
    if header.log_append_time() {
        check_arrival_deltas(&header, [min_timestamp, max_timestamp])?;
    }
    if max_timestamp.0 != header.max_timestamp {
        return refuse(format!(
            "max timestamp {} is not the records' largest, {}",
            header.max_timestamp, max_timestamp.0
        ));
    }
    Ok(CheckedBatch {
        header,
        min_timestamp,
        max_timestamp,
    })
}

/// Writes `now_ms` into a checked batch stamped on arrival as its base and max
/// timestamps, clears its log-append-time bit and updates its CRC (from the changed
/// header bytes alone, no pass over the records), so that it is
/// stored as the create-time batch the server would have encoded; `checked` follows.
/// A batch not stamped on arrival is left as it is.
pub fn stamp_arrival_time(batch: &mut [u8], checked: &mut CheckedBatch, now_ms: i64) {
    if !checked.stamped_on_arrival() {
        return;
    }
    let attributes = checked.header.attributes & !v2::ATTR_LOG_APPEND_TIME;
    // Attributes through max timestamp: the only bytes stamped.
    let stamped = v2::ATTRIBUTES..v2::MAX_TIMESTAMP + 8;
    let mut before = [0u8; v2::MAX_TIMESTAMP + 8 - v2::ATTRIBUTES];
    before.copy_from_slice(&batch[stamped.clone()]);
    let mut put = |at: usize, bytes: &[u8]| batch[at..at + bytes.len()].copy_from_slice(bytes);
    put(v2::ATTRIBUTES, &attributes.to_be_bytes());
    put(v2::BASE_TIMESTAMP, &now_ms.to_be_bytes());
    put(v2::MAX_TIMESTAMP, &now_ms.to_be_bytes());
    let old_crc = u32::from_be_bytes(batch[v2::CRC..v2::CRC + 4].try_into().expect("4 bytes"));
    let after = (batch.len() - stamped.end) as u64;
    let crc = v2::crc32c_after_change(old_crc, &before, &batch[stamped], after);
    batch[v2::CRC..v2::CRC + 4].copy_from_slice(&crc.to_be_bytes());
    checked.header.attributes = attributes;
    checked.header.first_timestamp = now_ms;
    checked.header.max_timestamp = now_ms;
    checked.min_timestamp.0 = now_ms;
    checked.max_timestamp.0 = now_ms;
}

/// A batch stamped on arrival carries no timestamps of its own: its smallest and
/// largest record timestamps (with their records' indexes) must be its base timestamp.
fn check_arrival_deltas(
    header: &BatchHeader,
    extremes: [(i64, usize); 2],
) -> Result<(), ClientBatchError> {
    for (timestamp, index) in extremes {
        if timestamp != header.first_timestamp {
            return refuse(format!(
                "a batch stamped on arrival (log-append-time bit) must have every timestamp \
                 delta 0, but record {index} has {}",
                timestamp.wrapping_sub(header.first_timestamp)
            ));
        }
    }
    Ok(())
}

fn check_header(header: &BatchHeader) -> Result<(), ClientBatchError> {
    if header.base_offset != 0 {
        return refuse(format!(
            "base offset {} where 0 was expected: the server assigns offsets",
            header.base_offset
        ));
    }
    let forbidden = v2::ATTR_CONTROL | v2::ATTR_TRANSACTIONAL | v2::ATTR_DELETE_HORIZON;
    if header.attributes & forbidden != 0 {
        return refuse(format!(
            "attributes {:#06x}: a producer's batch may set only the compression codec \
             and the log-append-time bit (no control, transactional or delete-horizon bit)",
            header.attributes
        ));
    }
    if header.record_count == 0 {
        return refuse("the batch holds no records".into());
    }
    if header.record_count != header.last_offset_delta + 1 {
        return refuse(format!(
            "record count {} does not match last offset delta {} (records are numbered 0, 1, 2...)",
            header.record_count, header.last_offset_delta
        ));
    }
    let producer_set = [
        header.producer_epoch >= 0,
        header.base_sequence >= 0,
        header.producer_id >= 0,
    ];
    let none = header.producer_id == NO_PRODUCER
        && header.producer_epoch == -1
        && header.base_sequence == -1;
    if !none && producer_set.contains(&false) {
        return refuse(format!(
            "producer id {}, epoch {} and base sequence {} must all be set or all be -1",
            header.producer_id, header.producer_epoch, header.base_sequence
        ));
    }
    Ok(())
}

/// Walks every record: numbering, count and timestamps (smallest and largest, each
/// with its record's index).
#[allow(clippy::type_complexity)]
fn walk_records(
    bytes: &[u8],
    header: &BatchHeader,
) -> Result<((i64, usize), (i64, usize)), ClientBatchError> {
    let records = batch::records(BatchFormat::V2, bytes, header)
        .map_err(|fault| ClientBatchError(fault.to_string()))?;
    let mut min = (i64::MAX, 0);
    let mut max = (i64::MIN, 0);
    let mut count = 0usize;
    for (index, record) in records.iter().enumerate() {
        let record =
            record.map_err(|fault| ClientBatchError(format!("record {index}: {fault}")))?;
        if record.offset_delta as usize != index {
            return refuse(format!(
                "record {index} has offset delta {} where {index} was expected",
                record.offset_delta
            ));
        }
        if record.timestamp_ms < min.0 {
            min = (record.timestamp_ms, index);
        }
        if record.timestamp_ms > max.0 {
            max = (record.timestamp_ms, index);
        }
        count = index + 1;
    }
    if count != header.record_count as usize {
        return refuse(format!(
            "the header counts {} records but the batch holds {count}",
            header.record_count
        ));
    }
    Ok((min, max))
}

#[cfg(test)]
#[path = "client_batch_tests.rs"]
mod tests;
