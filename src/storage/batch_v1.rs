//! Version 1 batches: eventlog's first layout, as specified in `storage-format.md`
//! ("Batch, version 1"). All integers are little-endian; the CRC-32 covers every byte
//! after it, the length and offsets included. Segments written before format version 4
//! hold these; new appends write version 2.
//!
//! Field offsets are chained constants so the layout reads like the spec's table.

use super::batch::{BatchFault, BatchHeader, EncodeError, NO_PRODUCER, ParsedRecord};
use super::record::{Header, Record};

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

/// The version byte of every version 1 batch.
pub const BATCH_VERSION: u8 = 1;

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

/// The base offset, total length and last offset delta fields of a possibly damaged
/// batch, read without any check (to locate what follows it).
pub fn raw_fields(bytes: &[u8]) -> Option<(u64, usize, u64)> {
    let header = bytes.get(..HEADER_LEN)?;
    let length = usize::try_from(u32_at(header, LENGTH)).ok()?;
    Some((
        u64_at(header, BASE_OFFSET),
        length,
        u64::from(u32_at(header, LAST_OFFSET_DELTA)),
    ))
}

/// Whether `bytes` could start a batch at or after `min_offset`, judged by its version,
/// length and base offset alone (before paying for a CRC).
pub fn plausible(bytes: &[u8], min_offset: u64) -> bool {
    bytes.len() >= HEADER_LEN
        && bytes[VERSION] == BATCH_VERSION
        && raw_fields(bytes)
            .is_some_and(|(base, length, _)| length <= bytes.len() && base >= min_offset)
}

/// Checks the length bounds, CRC and header of the batch at the start of `bytes`.
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

/// Bytes of the smallest version 1 record (no key, value or header).
pub fn record_min_len() -> usize {
    record_len(None, None, &[])
}

/// Size of one encoded version 1 record, its length field included.
pub fn record_len(key: Option<&[u8]>, value: Option<&[u8]>, headers: &[Header]) -> usize {
    let fixed = 4 + 4 + 8 + 4 + 4 + 4;
    let headers: usize = headers
        .iter()
        .map(|h| 2 + h.key.len() + 4 + h.value.len())
        .sum();
    fixed + key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len) + headers
}

/// Decodes and checks the header fields of `batch` (no CRC check).
pub fn parse_header(batch: &[u8]) -> Result<BatchHeader, BatchFault> {
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
        leader_epoch: -1,
        attributes: 0,
        producer_id: NO_PRODUCER,
        producer_epoch: -1,
        base_sequence: -1,
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

/// Calls `visit` with each (name, value) of a record's raw headers (a count, then the
/// entries). Only called on validated records.
pub(crate) fn each_header<'a>(headers: &'a [u8], visit: &mut dyn FnMut(&'a [u8], &'a [u8])) {
    let mut cursor = Cursor {
        bytes: headers,
        at: 0,
    };
    for _ in 0..cursor.u32().unwrap_or(0) {
        let (Some(name), Some(value)) = (cursor.slice_u16(), cursor.slice_u32()) else {
            return;
        };
        visit(name, value);
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

/// Parses the record at the start of `bytes` (the rest of a batch's records).
pub(crate) fn parse_record(bytes: &[u8]) -> Result<ParsedRecord<'_>, BatchFault> {
    let bad = |what: &str| BatchFault::BadRecords(format!("record {what} out of bounds"));
    let mut cursor = Cursor { bytes, at: 0 };
    let len = cursor.u32().ok_or_else(|| bad("length"))? as usize;
    let body = cursor.take(len).ok_or_else(|| bad("body"))?;
    let mut c = Cursor { bytes: body, at: 0 };
    let offset_delta = c.u32().ok_or_else(|| bad("offset"))?;
    let timestamp = c.i64().ok_or_else(|| bad("timestamp"))?;
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
    Ok(ParsedRecord {
        offset_delta,
        timestamp,
        key,
        value,
        headers,
        encoded_len: cursor.at,
    })
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
    let len = record_len(
        record.key.as_deref(),
        record.value.as_deref(),
        &record.headers,
    ) - 4;
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
