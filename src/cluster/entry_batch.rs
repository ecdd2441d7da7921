//! Raft entries as record batches, and back.
//!
//! A group's Raft log is a partition log, so every entry is stored as exactly one
//! version 2 batch, in index order, and the batch's leader-epoch field holds the
//! entry's term:
//! - a normal entry *is* the batch that was proposed;
//! - a blank entry (a new leader's first) and a membership entry are **control
//!   batches** (attribute bit 5, which every reader of data skips, as Kafka's readers
//!   skip transaction markers) holding one record whose key is Kafka's control-record
//!   key (version 0, then a type: [`CONTROL_BLANK`] or [`CONTROL_MEMBERSHIP`]) and whose
//!   value, for a membership, is the membership as JSON. Each occupies one offset.
//!
//! The entry's index is not stored: it is the batch's position in the log, counted
//! from the group's anchor (see [`super::index_map`]).

use bytes::Bytes;

use super::types::{Entry, LogId, Membership, Proposal};
use crate::storage::batch_v2::{self, ATTR_CONTROL, BatchMeta};
use crate::storage::{RawBatch, Record};

/// Control-record type of a blank entry (Kafka uses 0 to 6; these stay clear of them).
pub const CONTROL_BLANK: i16 = 100;
/// Control-record type of a membership entry.
pub const CONTROL_MEMBERSHIP: i16 = 101;

/// Why a stored batch is not an entry.
#[derive(Debug, thiserror::Error)]
pub enum EntryFault {
    /// A control batch this layer did not write.
    #[error("control batch of unknown type {0}")]
    UnknownControl(i16),
    /// A control batch whose record does not parse.
    #[error("malformed control batch: {0}")]
    Malformed(String),
    /// A leader term that does not fit the batch header.
    #[error("term {0} does not fit a batch header")]
    Term(u64),
}

/// The term as the batch header's leader epoch.
pub fn epoch_of(term: u64) -> Result<i32, EntryFault> {
    i32::try_from(term).map_err(|_| EntryFault::Term(term))
}

/// Encodes `entry` as the batch to store, with its term stamped. The base offset is
/// left for the log to set.
pub fn to_batch(entry: &Entry) -> Result<Vec<u8>, EntryFault> {
    let epoch = epoch_of(entry.log_id.leader_id.term)?;
    let mut bytes = match &entry.payload {
        openraft::EntryPayload::Normal(Proposal(batch, _)) => batch.to_vec(),
        openraft::EntryPayload::Blank => control(CONTROL_BLANK, Bytes::new(), now_ms())?,
        openraft::EntryPayload::Membership(m) => {
            let json = serde_json::to_vec(m).map_err(|e| EntryFault::Malformed(e.to_string()))?;
            control(CONTROL_MEMBERSHIP, Bytes::from(json), now_ms())?
        }
    };
    batch_v2::stamp_leader_epoch(&mut bytes, epoch);
    Ok(bytes)
}

/// What the leader stores in place of a conditional proposal whose condition failed
/// (see [`super::acks::Landed::Refused`]): a blank entry's control batch, stamped
/// with the entry's term. Readers skip it like any control batch, and the entry reads
/// back as a blank one, so followers store the same.
pub fn placeholder(term: u64) -> Result<Vec<u8>, EntryFault> {
    let epoch = epoch_of(term)?;
    let mut bytes = control(CONTROL_BLANK, Bytes::new(), now_ms())?;
    batch_v2::stamp_leader_epoch(&mut bytes, epoch);
    Ok(bytes)
}

/// The entry a stored batch holds, given its index.
pub fn from_batch(raw: &RawBatch, index: u64) -> Result<Entry, EntryFault> {
    let term = u64::try_from(raw.header.leader_epoch).unwrap_or(0);
    let log_id = LogId::new(openraft::CommittedLeaderId::new(term, 0), index);
    if !raw.header.is_control() {
        return Ok(Entry {
            log_id,
            payload: openraft::EntryPayload::Normal(Proposal::new(raw.bytes.clone())),
        });
    }
    let (kind, value) = control_record(raw)?;
    let payload = match kind {
        CONTROL_BLANK => openraft::EntryPayload::Blank,
        CONTROL_MEMBERSHIP => {
            let m: Membership =
                serde_json::from_slice(&value).map_err(|e| EntryFault::Malformed(e.to_string()))?;
            openraft::EntryPayload::Membership(m)
        }
        other => return Err(EntryFault::UnknownControl(other)),
    };
    Ok(Entry { log_id, payload })
}

/// A control batch of one record of type `kind` holding `value`, at `timestamp_ms`.
fn control(kind: i16, value: Bytes, timestamp_ms: i64) -> Result<Vec<u8>, EntryFault> {
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&kind.to_be_bytes());
    let record = Record {
        key: Some(Bytes::from(key)),
        value: Some(value),
        timestamp_ms,
        ..Record::default()
    };
    let meta = BatchMeta {
        attributes: ATTR_CONTROL,
        ..BatchMeta::default()
    };
    let mut buf = Vec::new();
    batch_v2::encode(&mut buf, std::iter::once((0, &record)), &meta)
        .map_err(|e| EntryFault::Malformed(e.reason))?;
    Ok(buf)
}

fn control_record(raw: &RawBatch) -> Result<(i16, Bytes), EntryFault> {
    let malformed = |what: &str| EntryFault::Malformed(what.to_string());
    let records = crate::storage::batch::records(raw.format, &raw.bytes, &raw.header)
        .map_err(|f| EntryFault::Malformed(f.to_string()))?;
    let record = records
        .iter()
        .next()
        .ok_or_else(|| malformed("no record"))?
        .map_err(|f| EntryFault::Malformed(f.to_string()))?
        .to_record();
    let key = record.key.ok_or_else(|| malformed("no key"))?;
    if key.len() != 4 {
        return Err(malformed("key is not a control-record key"));
    }
    let kind = i16::from_be_bytes([key[2], key[3]]);
    Ok((kind, record.value.unwrap_or_default()))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::batch::BatchFormat;

    fn raw(bytes: Vec<u8>) -> RawBatch {
        let header = batch_v2::check_crc(&bytes, u32::MAX).unwrap();
        RawBatch {
            header,
            format: BatchFormat::V2,
            bytes: Bytes::from(bytes),
        }
    }

    #[test]
    fn a_blank_entry_is_this_control_batch_golden_bytes() {
        let mut bytes = control(CONTROL_BLANK, Bytes::new(), 1_700_000_000_000).unwrap();
        batch_v2::stamp_leader_epoch(&mut bytes, 3);
        let expected = concat!(
            "0000000000000000", // base offset (set when appended)
            "0000003c",         // batch length
            "00000003",         // leader epoch = term 3
            "02",               // magic; the CRC-32C follows, checked below
        );
        assert_eq!(hex(&bytes[..17]), expected);
        assert_eq!(hex(&bytes[21..23]), "0020", "attributes: control batch");
        assert_eq!(
            hex(&bytes[43..57]),
            "ffffffffffffffffffffffffffff",
            "no producer"
        );
        // One record: key = control key version 0, type 100; empty value.
        let record = &bytes[61..];
        assert_eq!(
            hex(record),
            "1400000008000000640000",
            "length 10 (zigzag 0x14), attributes, timestamp and offset deltas 0, key length 4 \
             (0x08), key 00000064, value length 0 (empty, not null), no headers"
        );
        assert_eq!(
            batch_v2::crc32c(&bytes[21..]),
            u32::from_be_bytes(bytes[17..21].try_into().unwrap())
        );
    }

    #[test]
    fn entries_round_trip_through_their_batches() {
        let membership = Membership::new(
            vec![[1u64, 2, 3].into_iter().collect()],
            [1u64, 2, 3]
                .into_iter()
                .map(|id| (id, openraft::BasicNode::new(format!("127.0.0.1:{id}"))))
                .collect::<std::collections::BTreeMap<_, _>>(),
        );
        let entries = [
            Entry {
                log_id: crate::cluster::index_map::log_id(2, 7),
                payload: openraft::EntryPayload::Blank,
            },
            Entry {
                log_id: crate::cluster::index_map::log_id(4, 8),
                payload: openraft::EntryPayload::Membership(membership),
            },
        ];
        for entry in entries {
            let back = from_batch(&raw(to_batch(&entry).unwrap()), entry.log_id.index).unwrap();
            assert_eq!(back.log_id, entry.log_id);
            assert_eq!(
                format!("{:?}", back.payload),
                format!("{:?}", entry.payload)
            );
        }
    }

    #[test]
    fn a_control_batch_of_another_type_is_refused() {
        let bytes = control(1, Bytes::new(), 0).unwrap();
        assert!(matches!(
            from_batch(&raw(bytes), 0),
            Err(EntryFault::UnknownControl(1))
        ));
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
