//! The batch: one CRC-checked unit of records, the unit of atomicity on disk. Two
//! layouts exist, specified in `storage-format.md`:
//!
//! - [`BatchFormat::V1`] (`batch_v1.rs`): eventlog's first layout, little-endian,
//!   CRC-32 over everything but the CRC. Still read; written only when a version 1
//!   segment is truncated.
//! - [`BatchFormat::V2`] (`batch_v2.rs`): exactly Kafka's RecordBatch v2 (magic 2,
//!   big-endian header, CRC-32C from the attributes on, varint records), so stored
//!   batches can be served to Kafka clients and raw-batch clients as they are. Every
//!   new append writes it.
//!
//! A segment holds batches of one format, named by its file header's magic
//! ([`BatchFormat::of_segment`]); this module dispatches on it. What both formats
//! share is here: the decoded [`BatchHeader`], the [`BatchFault`]s, and the
//! [`RecordView`]s that reads, compaction and verification walk.

use std::borrow::Cow;

use bytes::Bytes;

use super::record::{Header, Record, StoredRecord};

pub use super::batch_v1 as v1;
pub use super::batch_v2 as v2;

/// The layout of the batches of one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchFormat {
    /// eventlog's first layout (`EVLSEG01` segments).
    V1,
    /// Kafka's RecordBatch v2 (`EVLSEG02` segments).
    V2,
}

impl BatchFormat {
    /// The format new segments are written in.
    pub const CURRENT: BatchFormat = BatchFormat::V2;

    /// The magic opening a segment file of this format.
    pub fn segment_magic(self) -> [u8; 8] {
        match self {
            BatchFormat::V1 => *b"EVLSEG01",
            BatchFormat::V2 => *b"EVLSEG02",
        }
    }

    /// The format of the segment whose file starts with `bytes`, if the magic is known.
    pub fn of_segment(bytes: &[u8]) -> Option<BatchFormat> {
        let magic = bytes.get(..8)?;
        [BatchFormat::V1, BatchFormat::V2]
            .into_iter()
            .find(|f| f.segment_magic() == magic)
    }

    /// Bytes of the fixed header: a batch is at least this long, and its length can be
    /// read from this many bytes.
    pub fn header_len(self) -> usize {
        match self {
            BatchFormat::V1 => v1::HEADER_LEN,
            BatchFormat::V2 => v2::HEADER_LEN,
        }
    }

    /// Bytes of the smallest record: how many offsets a damaged stretch can hide at
    /// most, per byte, while every batch holds one record per offset.
    pub fn min_record_len(self) -> usize {
        match self {
            BatchFormat::V1 => v1::record_min_len(),
            BatchFormat::V2 => v2::MIN_RECORD_LEN,
        }
    }
}

/// Why a run of bytes is not a valid batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchFault {
    /// The length field is zero: preallocated, never-written space (the end of data).
    Zero,
    /// The header or body runs past the available bytes.
    Truncated,
    /// A header field is impossible (length, version, counts).
    BadHeader(String),
    /// The CRC does not match the bytes.
    BadCrc {
        /// CRC stored in the batch.
        stored: u32,
        /// CRC computed over the bytes.
        computed: u32,
    },
    /// The CRC matched but the records do not parse (a writer bug, or a CRC collision).
    BadRecords(String),
}

impl std::fmt::Display for BatchFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BatchFault::Zero => write!(f, "zero length (unwritten space)"),
            BatchFault::Truncated => write!(f, "batch runs past the end of the data"),
            BatchFault::BadHeader(why) => write!(f, "bad batch header: {why}"),
            BatchFault::BadCrc { stored, computed } => {
                write!(
                    f,
                    "crc mismatch: stored {stored:#010x}, computed {computed:#010x}"
                )
            }
            BatchFault::BadRecords(why) => write!(f, "bad records: {why}"),
        }
    }
}

/// No producer: the producer id, epoch and base sequence of a batch appended without
/// idempotence (Kafka's `-1`).
pub const NO_PRODUCER: i64 = -1;

/// The decoded fixed header of a batch that passed its CRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Total length in bytes, header included.
    pub length: u32,
    /// Offset of the first record.
    pub base_offset: u64,
    /// Last offset minus base offset. After compaction a batch keeps it, so it may
    /// cover offsets whose records are gone.
    pub last_offset_delta: u32,
    /// Number of records (version 2: zero for a batch compaction emptied).
    pub record_count: u32,
    /// Timestamp of the first record (Kafka's base timestamp).
    pub first_timestamp: i64,
    /// Largest timestamp of the batch.
    pub max_timestamp: i64,
    /// The leader term (Kafka's partition leader epoch) the batch was appended in;
    /// `-1` for version 1 batches.
    pub leader_epoch: i32,
    /// Attribute bits (version 2): compression codec, timestamp type, control batch.
    pub attributes: u16,
    /// Producer id, or [`NO_PRODUCER`].
    pub producer_id: i64,
    /// Producer epoch, `-1` without a producer.
    pub producer_epoch: i16,
    /// Sequence number of the first record for its producer, `-1` without one.
    pub base_sequence: i32,
}

impl BatchHeader {
    /// Offset of the last record.
    pub fn last_offset(&self) -> u64 {
        self.base_offset + u64::from(self.last_offset_delta)
    }

    /// One past the last record's offset.
    pub fn next_offset(&self) -> u64 {
        self.last_offset() + 1
    }

    /// Whether the batch holds control records (transaction markers), which readers
    /// of data skip.
    pub fn is_control(&self) -> bool {
        self.attributes & v2::ATTR_CONTROL != 0
    }

    /// Whether the broker's append time replaces every record's timestamp (Kafka's
    /// `LogAppendTime`): then each record's timestamp is `max_timestamp`.
    pub fn log_append_time(&self) -> bool {
        self.attributes & v2::ATTR_LOG_APPEND_TIME != 0
    }

    /// The compression codec bits.
    pub fn codec_bits(&self) -> u16 {
        self.attributes & v2::ATTR_CODEC_MASK
    }

    /// Whether every offset the batch covers holds a record, uncompressed: what an
    /// append writes. Compaction and compression break it.
    pub fn is_dense(&self) -> bool {
        self.record_count == self.last_offset_delta + 1 && self.codec_bits() == 0
    }
}

/// Reads the total length of the batch starting at `bytes[0]`, if its header is there.
pub fn peek_length(format: BatchFormat, bytes: &[u8]) -> Option<u32> {
    match format {
        BatchFormat::V1 => v1::peek_length(bytes),
        BatchFormat::V2 => v2::peek_length(bytes),
    }
}

/// The base offset, total length and last offset delta fields of a possibly damaged
/// batch of `format`, read without any check (to locate what follows it).
pub fn raw_fields(format: BatchFormat, bytes: &[u8]) -> Option<(u64, usize, u64)> {
    match format {
        BatchFormat::V1 => v1::raw_fields(bytes),
        BatchFormat::V2 => v2::raw_fields(bytes),
    }
}

/// Whether `bytes` could start a batch of `format` at or after `min_offset`: cheap
/// header checks before paying for a CRC.
pub fn plausible(format: BatchFormat, bytes: &[u8], min_offset: u64) -> bool {
    match format {
        BatchFormat::V1 => v1::plausible(bytes, min_offset),
        BatchFormat::V2 => v2::plausible(bytes, min_offset),
    }
}

/// Checks the batch at the start of `bytes` (which may continue past it): length
/// bounds, CRC, header fields and record structure. Returns its header on success.
/// Used where a batch is trusted from then on (recovery, rewriting, verification).
pub fn check(format: BatchFormat, bytes: &[u8], max_len: u32) -> Result<BatchHeader, BatchFault> {
    let header = check_crc(format, bytes, max_len)?;
    let batch = &bytes[..header.length as usize];
    validate_records(&records(format, batch, &header)?, &header)?;
    Ok(header)
}

/// Like [`check`] but without walking the records: length bounds, CRC and header.
/// The read path uses it and reports any record that then fails to parse, so the
/// CRC of every batch handed out is still verified.
pub fn check_crc(
    format: BatchFormat,
    bytes: &[u8],
    max_len: u32,
) -> Result<BatchHeader, BatchFault> {
    match format {
        BatchFormat::V1 => v1::check_crc(bytes, max_len),
        BatchFormat::V2 => v2::check_crc(bytes, max_len),
    }
}

/// The header of a batch this process encoded or already checked (no CRC check).
pub fn trusted_header(format: BatchFormat, batch: &[u8]) -> BatchHeader {
    let header = match format {
        BatchFormat::V1 => v1::parse_header(batch),
        BatchFormat::V2 => v2::parse_header(batch),
    };
    header.expect("a batch encoded or checked before has a valid header")
}

/// Walks every record once so a batch that passes `check` always decodes.
fn validate_records(records: &Records<'_>, header: &BatchHeader) -> Result<(), BatchFault> {
    let mut count = 0u32;
    let mut last_delta = None;
    for record in records.iter() {
        let record = record?;
        if last_delta.is_some_and(|last| record.offset_delta <= last)
            || record.offset_delta > header.last_offset_delta
        {
            return Err(BatchFault::BadRecords(
                "offset deltas not increasing".into(),
            ));
        }
        last_delta = Some(record.offset_delta);
        count += 1;
    }
    // Version 1 batches end at their last record; version 2 batches keep their last
    // offset delta when compaction removes the last records.
    let last_ok = match records.format {
        BatchFormat::V1 => last_delta == Some(header.last_offset_delta),
        BatchFormat::V2 => true,
    };
    if count != header.record_count || !last_ok {
        return Err(BatchFault::BadRecords(format!(
            "{count} records found, header says {}",
            header.record_count
        )));
    }
    Ok(())
}

/// The records of one batch, ready to iterate: borrowed from the batch, or
/// decompressed into a buffer of their own.
pub struct Records<'a> {
    format: BatchFormat,
    body: Cow<'a, [u8]>,
    /// Version 2: the base every record's timestamp delta is added to.
    base_timestamp: i64,
    /// Version 2 `LogAppendTime` batches: the timestamp of every record.
    fixed_timestamp: Option<i64>,
}

impl Records<'_> {
    /// Iterates the records in order.
    pub fn iter(&self) -> RecordIter<'_> {
        RecordIter {
            format: self.format,
            bytes: &self.body,
            at: 0,
            base_timestamp: self.base_timestamp,
            fixed_timestamp: self.fixed_timestamp,
        }
    }

    /// The bytes the records are parsed from (the views borrow from it): a slice of the
    /// batch, or the decompressed records.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

/// The records of `batch` (exactly one batch, header included, that passed
/// [`check_crc`]), decompressed if the batch is compressed.
pub fn records<'a>(
    format: BatchFormat,
    batch: &'a [u8],
    header: &BatchHeader,
) -> Result<Records<'a>, BatchFault> {
    let start = format.header_len().min(batch.len());
    let body = match format {
        BatchFormat::V1 => Cow::Borrowed(&batch[start..]),
        BatchFormat::V2 => v2::record_bytes(&batch[start..], header)?,
    };
    Ok(Records {
        format,
        body,
        base_timestamp: header.first_timestamp,
        fixed_timestamp: header.log_append_time().then_some(header.max_timestamp),
    })
}

/// One record inside a batch, borrowing the batch's (or its decompressed) bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// Offset minus the batch's base offset.
    pub offset_delta: u32,
    /// Timestamp in ms.
    pub timestamp_ms: i64,
    /// Key, if any.
    pub key: Option<&'a [u8]>,
    /// Value, if any (`None` is a tombstone).
    pub value: Option<&'a [u8]>,
    /// Raw encoded headers, in the batch's format (count, then the entries).
    headers: &'a [u8],
    format: BatchFormat,
    /// Encoded length of the whole record.
    pub encoded_len: usize,
}

impl RecordView<'_> {
    /// Copies the record out of the batch as a [`StoredRecord`] at `base_offset`.
    pub fn to_stored(&self, base_offset: u64) -> StoredRecord {
        StoredRecord {
            offset: base_offset + u64::from(self.offset_delta),
            timestamp_ms: self.timestamp_ms,
            key: self.key.map(Bytes::copy_from_slice),
            value: self.value.map(Bytes::copy_from_slice),
            headers: self.headers(),
        }
    }

    /// Copies the record out as a [`Record`] (for rewriting it elsewhere).
    pub fn to_record(&self) -> Record {
        Record {
            key: self.key.map(Bytes::copy_from_slice),
            value: self.value.map(Bytes::copy_from_slice),
            headers: self.headers(),
            timestamp_ms: self.timestamp_ms,
        }
    }

    /// Decodes the headers. Only called on validated records, so it cannot fail.
    fn headers(&self) -> Vec<Header> {
        self.headers_with(Bytes::copy_from_slice)
    }

    /// Like [`RecordView::to_stored`], but keys and values become slices of `shared`, a
    /// copy of the whole `body` this record was parsed from ([`Records::body`]): one
    /// allocation and one copy per batch instead of one per field.
    pub fn to_stored_shared(&self, base_offset: u64, body: &[u8], shared: &Bytes) -> StoredRecord {
        let slice = |part: &[u8]| {
            // `part` lies inside `body` (the iterator borrowed it from there), so its
            // distance from the body's start is its position in `shared`.
            let start = part.as_ptr() as usize - body.as_ptr() as usize;
            shared.slice(start..start + part.len())
        };
        StoredRecord {
            offset: base_offset + u64::from(self.offset_delta),
            timestamp_ms: self.timestamp_ms,
            key: self.key.map(slice),
            value: self.value.map(slice),
            headers: self.headers_with(slice),
        }
    }

    /// Decodes the headers, turning values into `Bytes` with `to_bytes`.
    fn headers_with(&self, to_bytes: impl Fn(&[u8]) -> Bytes) -> Vec<Header> {
        let mut headers = Vec::new();
        let mut push = |key: &[u8], value: &[u8]| {
            headers.push(Header {
                key: String::from_utf8_lossy(key).into_owned(),
                value: to_bytes(value),
            })
        };
        match self.format {
            BatchFormat::V1 => v1::each_header(self.headers, &mut push),
            BatchFormat::V2 => v2::each_header(self.headers, &mut push),
        }
        headers
    }
}

/// The parts of one record found by a format's parser.
pub(crate) struct ParsedRecord<'a> {
    pub offset_delta: u32,
    /// The record's own timestamp field: absolute (version 1) or a delta (version 2).
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: &'a [u8],
    pub encoded_len: usize,
}

/// Iterates the records of one batch.
pub struct RecordIter<'a> {
    format: BatchFormat,
    bytes: &'a [u8],
    at: usize,
    base_timestamp: i64,
    fixed_timestamp: Option<i64>,
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<RecordView<'a>, BatchFault>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.bytes.len() {
            return None;
        }
        let rest = &self.bytes[self.at..];
        let parsed = match self.format {
            BatchFormat::V1 => v1::parse_record(rest),
            BatchFormat::V2 => v2::parse_record(rest),
        };
        let item = parsed.map(|p| {
            self.at += p.encoded_len;
            let timestamp_ms = match self.format {
                BatchFormat::V1 => p.timestamp,
                BatchFormat::V2 => self
                    .fixed_timestamp
                    .unwrap_or(self.base_timestamp.wrapping_add(p.timestamp)),
            };
            RecordView {
                offset_delta: p.offset_delta,
                timestamp_ms,
                key: p.key,
                value: p.value,
                headers: p.headers,
                format: self.format,
                encoded_len: p.encoded_len,
            }
        });
        if item.is_err() {
            self.at = self.bytes.len();
        }
        Some(item)
    }
}

/// A record that cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError {
    /// Index of the record in the batch.
    pub index: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// Encodes records into one batch of `format` in `buf` (cleared first).
/// `records` yields each record's offset minus the base offset (strictly increasing).
/// The base offset is left zero: [`seal`] sets it once it is known, so the costly
/// encoding (and, for version 2, the CRC) happens outside the writer lock.
pub fn encode<'r>(
    format: BatchFormat,
    buf: &mut Vec<u8>,
    records: impl ExactSizeIterator<Item = (u32, &'r Record)>,
) -> Result<(), EncodeError> {
    match format {
        BatchFormat::V1 => v1::encode(buf, records),
        BatchFormat::V2 => v2::encode(buf, records, &v2::BatchMeta::default()),
    }
}

/// [`seal`], unless the batch's offsets starting at `base_offset` would pass the
/// format's largest offset: then the batch is left unsealed and `None` returned.
/// Returns the sealed batch's header.
pub fn seal_checked(
    format: BatchFormat,
    batch: &mut [u8],
    base_offset: u64,
) -> Option<BatchHeader> {
    match format {
        BatchFormat::V1 => v1::seal_checked(batch, base_offset),
        BatchFormat::V2 => v2::seal_checked(batch, base_offset),
    }
}

/// Writes the base offset into an encoded batch (version 1 then computes its CRC;
/// version 2's CRC does not cover the base offset).
pub fn seal(format: BatchFormat, batch: &mut [u8], base_offset: u64) {
    match format {
        BatchFormat::V1 => v1::seal(batch, base_offset),
        BatchFormat::V2 => v2::seal(batch, base_offset),
    }
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
