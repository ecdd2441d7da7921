//! Records and bytes produced and delivered, per topic, and the open-stream gauge.
//!
//! Bytes are the records' encoded size on disk ([`Record::encoded_len`]) without batch
//! headers, the same measure for both directions and for the `max_bytes` of reads.
//! Called once per request or stream message, never per record: a counter increment
//! per request is all the hot path pays.

use metrics::{counter, gauge};

use super::names;
use crate::storage::{Record, StoredRecord};

/// How records reached a consumer (the `via` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A `Fetch` reply.
    Fetch,
    /// A `Subscribe` stream message.
    Subscribe,
}

impl Via {
    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Via::Fetch => "fetch",
            Via::Subscribe => "subscribe",
        }
    }
}

/// Count and encoded bytes of a batch about to be appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchSize {
    /// Records.
    pub records: u64,
    /// Encoded bytes.
    pub bytes: u64,
}

impl BatchSize {
    /// The size of `records`.
    pub fn of(records: &[Record]) -> BatchSize {
        BatchSize {
            records: records.len() as u64,
            bytes: records.iter().map(|r| r.encoded_len() as u64).sum(),
        }
    }

    /// The size of records read back.
    pub fn of_stored(records: &[StoredRecord]) -> BatchSize {
        BatchSize {
            records: records.len() as u64,
            bytes: records.iter().map(|r| r.encoded_len() as u64).sum(),
        }
    }
}

/// Counts records acknowledged to a producer of `topic`.
pub fn produced(topic: &str, size: BatchSize) {
    counter!(names::PRODUCED_RECORDS, "topic" => topic.to_owned()).increment(size.records);
    counter!(names::PRODUCED_BYTES, "topic" => topic.to_owned()).increment(size.bytes);
}

/// Counts records of `topic` handed to a consumer.
pub fn delivered(topic: &str, via: Via, records: &[StoredRecord]) {
    if records.is_empty() {
        // An empty long-poll reply or a caught-up marker: nothing to count, and no
        // label lookup on the path of idle consumers.
        return;
    }
    let size = BatchSize::of_stored(records);
    let labels = [("topic", topic.to_owned()), ("via", via.label().to_owned())];
    counter!(names::DELIVERED_RECORDS, &labels).increment(size.records);
    counter!(names::DELIVERED_BYTES, &labels).increment(size.bytes);
}

/// Counts stored batches delivered as bytes: their records (by the headers' counts)
/// and bytes.
pub fn delivered_batches(topic: &str, via: Via, read: &crate::storage::RawRead) {
    if read.batches == 0 {
        return;
    }
    let labels = [("topic", topic.to_owned()), ("via", via.label().to_owned())];
    counter!(names::DELIVERED_RECORDS, &labels).increment(read.records);
    counter!(names::DELIVERED_BYTES, &labels).increment(read.bytes as u64);
}

/// An open `Subscribe` stream, counted in `eventlog_open_streams` while it lives.
#[derive(Debug)]
pub struct OpenStream(());

impl OpenStream {
    /// Counts a stream as open until the value is dropped.
    pub fn open() -> OpenStream {
        gauge!(names::OPEN_STREAMS).increment(1.0);
        OpenStream(())
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        gauge!(names::OPEN_STREAMS).decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::storage::Header;

    #[test]
    fn batch_size_counts_keys_values_and_headers_as_encoded() {
        let records = vec![
            Record {
                key: Some(Bytes::from_static(b"k")),
                value: Some(Bytes::from_static(b"value")),
                headers: vec![Header {
                    key: "h".into(),
                    value: Bytes::from_static(b"xy"),
                }],
                timestamp_ms: 1,
            },
            Record::default(),
        ];
        let size = BatchSize::of(&records);
        assert_eq!(size.records, 2);
        let expected: usize = records.iter().map(Record::encoded_len).sum();
        assert_eq!(size.bytes, expected as u64);
        // Payload and header bytes are part of it, beyond the fixed fields.
        // Key "k" (length and byte), value "value" (1 + 5), one header "h" = "xy"
        // (1 + 1 + 1 + 2), against no key, no value (one byte each), no header.
        assert_eq!(
            records[0].encoded_len() - records[1].encoded_len(),
            (2 - 1) + (6 - 1) + (1 + 1 + 1 + 2)
        );
    }

    #[test]
    fn stored_records_measure_like_appended_ones() {
        let stored = StoredRecord {
            offset: 9,
            timestamp_ms: 1,
            key: Some(Bytes::from_static(b"key")),
            value: None,
            headers: Vec::new(),
        };
        let appended = Record {
            key: stored.key.clone(),
            ..Record::default()
        };
        assert_eq!(
            BatchSize::of_stored(std::slice::from_ref(&stored)),
            BatchSize::of(&[appended])
        );
    }
}
