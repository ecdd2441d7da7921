//! The batch codec: one CRC-checked unit of records, as specified in
//! `storage-format.md` ("Batch" and "Record"). All integers are little-endian.
//!
//! Field offsets are chained constants so the layout reads like the spec's table.

use bytes::Bytes;

use super::record::{Header, Record, StoredRecord};

/// CRC-32 (IEEE) of bytes `[LENGTH..length)`: covers the length, offsets, everything.
pub const CRC: usize = 0;
/// Total batch length in bytes, header included.
pub const LENGTH: usize = CRC + 4;
/// Offset of the first record.
pub const BASE_OFFSET: usize = LENGTH + 4;
/// Offset of the last record minus the base offset.
pub const LAST_OFFSET_DELTA: usize = BASE_OFFSET + 8;
/// Number of records in the batch (at least 1).
pub const RECORD_COUNT: usize = LAST_OFFSET_DELTA + 4;
/// Timestamp of the first record.
pub const FIRST_TIMESTAMP: usize = RECORD_COUNT + 4;
/// Largest timestamp in the batch.
pub const MAX_TIMESTAMP: usize = FIRST_TIMESTAMP + 8;
/// Batch format version, [`BATCH_VERSION`].
pub const VERSION: usize = MAX_TIMESTAMP + 8;
/// Attribute bits (none defined; must be 0).
pub const ATTRIBUTES: usize = VERSION + 1;
/// Reserved, must be 0.
pub const RESERVED: usize = ATTRIBUTES + 1;
/// Size of the batch header; records follow.
pub const HEADER_LEN: usize = RESERVED + 2;

/// The only batch format version.
pub const BATCH_VERSION: u8 = 1;

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

/// The decoded fixed header of a batch that passed its CRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Total length in bytes.
    pub length: u32,
    /// Offset of the first record.
    pub base_offset: u64,
    /// Last offset minus base offset.
    pub last_offset_delta: u32,
    /// Number of records.
    pub record_count: u32,
    /// Timestamp of the first record.
    pub first_timestamp: i64,
    /// Largest timestamp of the batch.
    pub max_timestamp: i64,
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
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn i64_at(b: &[u8], at: usize) -> i64 {
    i64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Reads the length field of the batch starting at `bytes[0]`, if there are 8 bytes.
pub fn peek_length(bytes: &[u8]) -> Option<u32> {
    (bytes.len() >= HEADER_LEN).then(|| u32_at(bytes, LENGTH))
}

/// Checks the batch at the start of `bytes` (which may continue past it): length
/// bounds, CRC, header fields and record structure. Returns its header on success.
/// Used where a batch is trusted from then on (recovery, rewriting, verification).
pub fn check(bytes: &[u8], max_len: u32) -> Result<BatchHeader, BatchFault> {
    let header = check_crc(bytes, max_len)?;
    validate_records(&bytes[..header.length as usize], &header)?;
    Ok(header)
}

/// Like [`check`] but without walking the records: length bounds, CRC and header.
/// The read path uses it and reports any record that then fails to parse, so the
/// CRC of every batch handed out is still verified.
pub fn check_crc(bytes: &[u8], max_len: u32) -> Result<BatchHeader, BatchFault> {
    if bytes.len() < HEADER_LEN {
        return if bytes.iter().all(|b| *b == 0) {
            Err(BatchFault::Zero)
        } else {
            Err(BatchFault::Truncated)
        };
    }
    let length = u32_at(bytes, LENGTH);
    if length == 0 && u32_at(bytes, CRC) == 0 {
        return Err(BatchFault::Zero);
    }
    if (length as usize) < HEADER_LEN + record_min_len() || length > max_len {
        return Err(BatchFault::BadHeader(format!(
            "length {length} is impossible"
        )));
    }
    if length as usize > bytes.len() {
        return Err(BatchFault::Truncated);
    }
    let batch = &bytes[..length as usize];
    let stored = u32_at(batch, CRC);
    let computed = crc32fast::hash(&batch[LENGTH..]);
    if stored != computed {
        return Err(BatchFault::BadCrc { stored, computed });
    }
    parse_header(batch)
}

/// The header of a batch this process just encoded and sealed (no checks).
pub fn trusted_header(batch: &[u8]) -> BatchHeader {
    parse_header(batch).expect("a batch encoded by `encode` has a valid header")
}

fn record_min_len() -> usize {
    super::record::encoded_len(None, None, &[])
}

fn parse_header(batch: &[u8]) -> Result<BatchHeader, BatchFault> {
    if batch[VERSION] != BATCH_VERSION
        || batch[ATTRIBUTES] != 0
        || batch[RESERVED..HEADER_LEN] != [0, 0]
    {
        return Err(BatchFault::BadHeader(format!(
            "unknown version {} or flags",
            batch[VERSION]
        )));
    }
    let header = BatchHeader {
        length: u32_at(batch, LENGTH),
        base_offset: u64_at(batch, BASE_OFFSET),
        last_offset_delta: u32_at(batch, LAST_OFFSET_DELTA),
        record_count: u32_at(batch, RECORD_COUNT),
        first_timestamp: i64_at(batch, FIRST_TIMESTAMP),
        max_timestamp: i64_at(batch, MAX_TIMESTAMP),
    };
    let count_ok = header.record_count >= 1 && header.record_count - 1 <= header.last_offset_delta;
    if !count_ok
        || header
            .base_offset
            .checked_add(u64::from(header.last_offset_delta) + 1)
            .is_none()
    {
        return Err(BatchFault::BadHeader(
            "record count or offsets are impossible".into(),
        ));
    }
    Ok(header)
}

/// Walks every record once so a batch that passes `check` always decodes.
fn validate_records(batch: &[u8], header: &BatchHeader) -> Result<(), BatchFault> {
    let mut count = 0u32;
    let mut last_delta = None;
    for record in RecordIter::new(batch) {
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
    if count != header.record_count || last_delta != Some(header.last_offset_delta) {
        return Err(BatchFault::BadRecords(format!(
            "{count} records found, header says {}",
            header.record_count
        )));
    }
    Ok(())
}

/// One record inside a batch, borrowing the batch's bytes.
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
    /// Raw encoded headers: `count u32` then the entries.
    headers: &'a [u8],
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

    /// Decodes the headers. Only called on validated batches, so it cannot fail.
    fn headers(&self) -> Vec<Header> {
        self.headers_with(Bytes::copy_from_slice)
    }

    /// Like [`RecordView::to_stored`], but keys and values become slices of `shared`, a
    /// copy of the whole `batch` this record was parsed from: one allocation and one
    /// copy per batch instead of one per field.
    pub fn to_stored_shared(&self, base_offset: u64, batch: &[u8], shared: &Bytes) -> StoredRecord {
        let slice = |part: &[u8]| {
            // `part` lies inside `batch` (the iterator borrowed it from there), so its
            // distance from the batch start is its position in `shared`.
            let start = part.as_ptr() as usize - batch.as_ptr() as usize;
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

    /// Decodes the headers, turning values into `Bytes` with `to_bytes`. Only called on
    /// validated batches, so it cannot fail.
    fn headers_with(&self, to_bytes: impl Fn(&[u8]) -> Bytes) -> Vec<Header> {
        let mut cursor = Cursor {
            bytes: self.headers,
            at: 0,
        };
        let count = cursor.u32().unwrap_or(0);
        (0..count)
            .map_while(|_| {
                let key = cursor.slice_u16()?;
                let value = cursor.slice_u32()?;
                Some(Header {
                    key: String::from_utf8_lossy(key).into_owned(),
                    value: to_bytes(value),
                })
            })
            .collect()
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let out = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(out)
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
    }
    fn i64(&mut self) -> Option<i64> {
        self.take(8)
            .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
    fn optional(&mut self) -> Option<Option<&'a [u8]>> {
        let len = self.u32()? as i32;
        match len {
            -1 => Some(None),
            n if n >= 0 => self.take(n as usize).map(Some),
            _ => None,
        }
    }
    fn slice_u16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
    fn slice_u32(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()?;
        self.take(n as usize)
    }
}

/// Iterates the records of one batch (header included in `batch`).
pub struct RecordIter<'a> {
    cursor: Cursor<'a>,
}

impl<'a> RecordIter<'a> {
    /// Starts after the header of `batch` (which must be exactly one batch long).
    pub fn new(batch: &'a [u8]) -> Self {
        RecordIter {
            cursor: Cursor {
                bytes: batch,
                at: HEADER_LEN.min(batch.len()),
            },
        }
    }

    fn parse_one(&mut self) -> Result<RecordView<'a>, BatchFault> {
        let bad = |what: &str| BatchFault::BadRecords(format!("record {what} out of bounds"));
        let start = self.cursor.at;
        let len = self.cursor.u32().ok_or_else(|| bad("length"))? as usize;
        let body = self.cursor.take(len).ok_or_else(|| bad("body"))?;
        let mut c = Cursor { bytes: body, at: 0 };
        let offset_delta = c.u32().ok_or_else(|| bad("offset"))?;
        let timestamp_ms = c.i64().ok_or_else(|| bad("timestamp"))?;
        let key = c.optional().ok_or_else(|| bad("key"))?;
        let value = c.optional().ok_or_else(|| bad("value"))?;
        let headers = &body[c.at..];
        let count = c.u32().ok_or_else(|| bad("header count"))?;
        for _ in 0..count {
            let name = c.slice_u16().ok_or_else(|| bad("header name"))?;
            std::str::from_utf8(name)
                .map_err(|_| BatchFault::BadRecords("header name is not utf-8".into()))?;
            c.slice_u32().ok_or_else(|| bad("header value"))?;
        }
        if c.at != body.len() {
            return Err(BatchFault::BadRecords(
                "record length does not match its fields".into(),
            ));
        }
        let encoded_len = self.cursor.at - start;
        Ok(RecordView {
            offset_delta,
            timestamp_ms,
            key,
            value,
            headers,
            encoded_len,
        })
    }
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<RecordView<'a>, BatchFault>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.cursor.at >= self.cursor.bytes.len() {
            return None;
        }
        let item = self.parse_one();
        if item.is_err() {
            self.cursor.at = self.cursor.bytes.len();
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

/// Encodes records into one batch in `buf` (cleared first). `offset_deltas[i]` is
/// record `i`'s offset minus the base offset (strictly increasing). The base offset
/// and CRC are left zero: [`seal`] sets them once the base offset is known, so the
/// costly encoding happens outside the writer lock.
pub fn encode<'r>(
    buf: &mut Vec<u8>,
    records: impl ExactSizeIterator<Item = (u32, &'r Record)>,
) -> Result<(), EncodeError> {
    buf.clear();
    buf.resize(HEADER_LEN, 0);
    let count = records.len();
    let (mut first_ts, mut max_ts, mut last_delta) = (0i64, i64::MIN, 0u32);
    for (index, (delta, record)) in records.enumerate() {
        encode_record(buf, delta, record).map_err(|reason| EncodeError { index, reason })?;
        if index == 0 {
            first_ts = record.timestamp_ms;
        }
        max_ts = max_ts.max(record.timestamp_ms);
        last_delta = delta;
    }
    let length = u32::try_from(buf.len()).map_err(|_| EncodeError {
        index: 0,
        reason: "batch over 4 GiB".into(),
    })?;
    let count = u32::try_from(count).map_err(|_| EncodeError {
        index: 0,
        reason: "too many records".into(),
    })?;
    buf[LENGTH..LENGTH + 4].copy_from_slice(&length.to_le_bytes());
    buf[LAST_OFFSET_DELTA..LAST_OFFSET_DELTA + 4].copy_from_slice(&last_delta.to_le_bytes());
    buf[RECORD_COUNT..RECORD_COUNT + 4].copy_from_slice(&count.to_le_bytes());
    buf[FIRST_TIMESTAMP..FIRST_TIMESTAMP + 8].copy_from_slice(&first_ts.to_le_bytes());
    buf[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&max_ts.to_le_bytes());
    buf[VERSION] = BATCH_VERSION;
    Ok(())
}

fn encode_record(buf: &mut Vec<u8>, delta: u32, record: &Record) -> Result<(), String> {
    let len = record.encoded_len() - 4;
    let len = u32::try_from(len).map_err(|_| "record over 4 GiB".to_string())?;
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&delta.to_le_bytes());
    buf.extend_from_slice(&record.timestamp_ms.to_le_bytes());
    put_optional(buf, record.key.as_deref(), "key")?;
    put_optional(buf, record.value.as_deref(), "value")?;
    buf.extend_from_slice(&(record.headers.len() as u32).to_le_bytes());
    for header in &record.headers {
        let name_len = u16::try_from(header.key.len())
            .map_err(|_| format!("header name of {} bytes exceeds 65535", header.key.len()))?;
        let value_len =
            u32::try_from(header.value.len()).map_err(|_| "header value over 4 GiB".to_string())?;
        buf.extend_from_slice(&name_len.to_le_bytes());
        buf.extend_from_slice(header.key.as_bytes());
        buf.extend_from_slice(&value_len.to_le_bytes());
        buf.extend_from_slice(&header.value);
    }
    Ok(())
}

fn put_optional(buf: &mut Vec<u8>, bytes: Option<&[u8]>, what: &str) -> Result<(), String> {
    match bytes {
        None => buf.extend_from_slice(&(-1i32).to_le_bytes()),
        Some(b) => {
            let len = i32::try_from(b.len())
                .map_err(|_| format!("{what} of {} bytes exceeds 2 GiB", b.len()))?;
            buf.extend_from_slice(&len.to_le_bytes());
            buf.extend_from_slice(b);
        }
    }
    Ok(())
}

/// [`seal`], unless the batch's offsets starting at `base_offset` would pass
/// `u64::MAX`: then the batch is left unsealed and `None` returned. Returns the sealed
/// batch's header.
pub fn seal_checked(batch: &mut [u8], base_offset: u64) -> Option<BatchHeader> {
    let last_delta = u64::from(u32_at(batch, LAST_OFFSET_DELTA));
    base_offset.checked_add(last_delta)?.checked_add(1)?;
    seal(batch, base_offset);
    parse_header(batch).ok()
}

/// Writes the base offset into an encoded batch and computes its CRC.
pub fn seal(batch: &mut [u8], base_offset: u64) {
    batch[BASE_OFFSET..BASE_OFFSET + 8].copy_from_slice(&base_offset.to_le_bytes());
    let crc = crc32fast::hash(&batch[LENGTH..]);
    batch[CRC..CRC + 4].copy_from_slice(&crc.to_le_bytes());
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
