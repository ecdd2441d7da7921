//! Raw batch reads: the batches decode to exactly the records a record read returns,
//! version 1 segments come out as version 2, limits hold, and damage is refused.

use std::path::Path;

use bytes::Bytes;

use crate::storage::batch::{self, BatchFormat};
use crate::storage::{Log, LogConfig, LogIdent, ReadError, ReadLimits, Record, StoredRecord};

fn open(dir: &Path, format: BatchFormat) -> Log {
    let config = LogConfig {
        batch_format: format,
        ..LogConfig::small()
    };
    Log::open(dir, LogIdent::new("t", 0), config).unwrap()
}

fn append_rounds(log: &Log, rounds: usize) {
    for round in 0..rounds {
        let records: Vec<Record> = (0..3)
            .map(|i| Record {
                key: Some(Bytes::from(format!("k{round}-{i}"))),
                value: Some(Bytes::from(format!("v{round}-{i}").repeat(30))),
                timestamp_ms: 1_700_000_000_000 + (round * 3 + i) as i64,
                ..Record::default()
            })
            .collect();
        log.append(&records).unwrap();
        if round % 5 == 4 {
            log.roll().unwrap();
        }
    }
}

/// Decodes version 2 batches, checking each CRC, keeping records at or after `from`.
fn decode(chunks: &[Bytes], from: u64) -> Vec<StoredRecord> {
    let mut out = Vec::new();
    for chunk in chunks {
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            let header = batch::check_crc(BatchFormat::V2, rest, u32::MAX).unwrap();
            let (one, after) = rest.split_at(header.length as usize);
            let records = batch::records(BatchFormat::V2, one, &header).unwrap();
            for record in records.iter() {
                let stored = record.unwrap().to_stored(header.base_offset);
                if stored.offset >= from {
                    out.push(stored);
                }
            }
            rest = after;
        }
    }
    out
}

fn read_all_raw(log: &Log, from: u64, limits: ReadLimits) -> Vec<StoredRecord> {
    let mut next = from;
    let mut out = Vec::new();
    while next < log.high_watermark() {
        let read = log.read_raw(next, limits, None).unwrap();
        assert!(
            read.batches > 0,
            "a read below the high watermark returns a batch"
        );
        assert_eq!(
            read.bytes,
            read.chunks.iter().map(Bytes::len).sum::<usize>()
        );
        out.extend(decode(&read.chunks, next));
        next = read.next_offset;
    }
    out
}

fn read_all(log: &Log, from: u64) -> Vec<StoredRecord> {
    let mut next = from;
    let mut out = Vec::new();
    while next < log.high_watermark() {
        let read = log.read(next, ReadLimits::default()).unwrap();
        out.extend(read.records);
        next = read.next_offset;
    }
    out
}

#[test]
fn raw_batches_decode_to_the_records_a_record_read_returns() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), BatchFormat::V2);
    append_rounds(&log, 12);
    let limits = ReadLimits {
        max_records: 7,
        max_bytes: 1 << 20,
    };
    // From the start and from inside a batch (the first batch then begins earlier).
    for from in [0, 4, 17] {
        assert_eq!(read_all_raw(&log, from, limits), read_all(&log, from));
    }
}

#[test]
fn a_raw_read_keeps_to_its_limits_but_returns_at_least_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), BatchFormat::V2);
    append_rounds(&log, 4);
    let one = ReadLimits {
        max_records: 1,
        max_bytes: 1,
    };
    let read = log.read_raw(0, one, None).unwrap();
    assert_eq!((read.batches, read.records, read.next_offset), (1, 3, 3));
    let two = ReadLimits {
        max_records: 6,
        max_bytes: 1 << 20,
    };
    let read = log.read_raw(0, two, None).unwrap();
    assert_eq!((read.batches, read.records, read.next_offset), (2, 6, 6));
    // Adjacent batches of one segment share one chunk.
    assert_eq!(read.chunks.len(), 1);
}

#[test]
fn a_bound_below_the_high_watermark_stops_the_read() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), BatchFormat::V2);
    append_rounds(&log, 4);
    let read = log.read_raw(0, ReadLimits::default(), Some(6)).unwrap();
    assert_eq!(
        (read.records, read.next_offset, read.high_watermark),
        (6, 6, 6)
    );
    let past = log.read_raw(7, ReadLimits::default(), Some(6)).unwrap_err();
    assert!(matches!(past, ReadError::OutOfRange { .. }), "{past}");
}

#[test]
fn version_1_segments_are_served_as_version_2_batches() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), BatchFormat::V1);
    append_rounds(&log, 7);
    drop(log);
    // Reopened with version 2 appends: the log now holds both formats.
    let log = open(dir.path(), BatchFormat::V2);
    append_rounds(&log, 3);
    let limits = ReadLimits::default();
    assert_eq!(read_all_raw(&log, 0, limits), read_all(&log, 0));
    assert_eq!(read_all_raw(&log, 5, limits).len(), 30 - 5);
}

#[test]
fn a_raw_read_starting_at_a_damaged_batch_fails_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), BatchFormat::V2);
    append_rounds(&log, 3);
    // Sealed, so reopening trusts it rather than cutting it at the damage.
    log.roll().unwrap();
    append_rounds(&log, 1);
    log.close().unwrap();
    drop(log);
    let path = dir.path().join(format!("{:020}.log", 0));
    let mut bytes = std::fs::read(&path).unwrap();
    // A byte inside the second batch's records (the first batch is header + 3 records).
    let first_len = crate::storage::batch::peek_length(
        BatchFormat::V2,
        &bytes[crate::storage::segment::FILE_HEADER_LEN..],
    )
    .unwrap() as usize;
    let target = crate::storage::segment::FILE_HEADER_LEN + first_len + 80;
    bytes[target] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let log = open(dir.path(), BatchFormat::V2);
    // Before the damage: the first batch only.
    let read = log.read_raw(0, ReadLimits::default(), None).unwrap();
    assert_eq!(read.next_offset, 3);
    let error = log.read_raw(3, ReadLimits::default(), None).unwrap_err();
    assert!(matches!(error, ReadError::Corrupt { .. }), "{error}");
}
