//! The records a caller appends and the records a read hands back.

use bytes::Bytes;

/// A header: a UTF-8 name and an opaque value, in the order the producer gave them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Header name.
    pub key: String,
    /// Header value.
    pub value: Bytes,
}

/// A record to append. A record with a key and no value is a tombstone: under key
/// compaction it removes older values of that key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// Optional key (used for partitioning and compaction).
    pub key: Option<Bytes>,
    /// Optional value; `None` is a tombstone.
    pub value: Option<Bytes>,
    /// Headers, in order.
    pub headers: Vec<Header>,
    /// Timestamp in milliseconds since the Unix epoch, chosen by the caller.
    pub timestamp_ms: i64,
}

/// A record read back from the log, with the offset it was stored at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// The record's offset in its partition.
    pub offset: u64,
    /// Timestamp in milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// Optional key.
    pub key: Option<Bytes>,
    /// Optional value; `None` is a tombstone.
    pub value: Option<Bytes>,
    /// Headers, in order.
    pub headers: Vec<Header>,
}

impl StoredRecord {
    /// Bytes this record occupies in a batch on disk; reads count it against `max_bytes`.
    pub fn encoded_len(&self) -> usize {
        encoded_len(self.key.as_deref(), self.value.as_deref(), &self.headers)
    }
}

impl Record {
    /// A record whose value is `value` and nothing else (unit tests).
    #[cfg(test)]
    pub(crate) fn text(value: &str) -> Record {
        Record {
            value: Some(value.to_string().into()),
            ..Record::default()
        }
    }

    /// Bytes this record occupies in a batch on disk.
    pub fn encoded_len(&self) -> usize {
        encoded_len(self.key.as_deref(), self.value.as_deref(), &self.headers)
    }
}

/// Size of one record encoded in a version 2 batch (`storage-format.md`, "Record,
/// version 2"), counting its offset and timestamp deltas as one byte each: those
/// depend on the batch the record lands in, and are one byte for the first record.
pub(crate) fn encoded_len(key: Option<&[u8]>, value: Option<&[u8]>, headers: &[Header]) -> usize {
    let body = super::batch_v2::body_len(key, value, headers, 0, 0);
    super::varint::varlong_len(body as i64) + body
}
