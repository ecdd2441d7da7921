//! Whole-batch reads and appends: a copy made batch by batch holds the same bytes at
//! the same offsets, survives a reopen with its producer state, and refuses damage.

use std::path::Path;

use bytes::Bytes;

use crate::storage::batch::BatchFormat;
use crate::storage::batch_v2;
use crate::storage::producer_state::ProducerBatch;
use crate::storage::{
    AppendError, CompactionConfig, Log, LogConfig, LogIdent, ReadError, ReadLimits, Record,
};

fn open(dir: &Path) -> Log {
    let config = LogConfig {
        batch_format: BatchFormat::V2,
        ..LogConfig::small()
    };
    Log::open(dir, LogIdent::new("t", 0), config).unwrap()
}

fn records(n: usize, tag: &str) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            key: Some(Bytes::from(format!("key-{i}"))),
            value: Some(Bytes::from(format!("{tag}-{i}").repeat(40))),
            timestamp_ms: 1_700_000_000_000 + i as i64,
            ..Record::default()
        })
        .collect()
}

/// A source log with plain and idempotent batches over several segments.
fn source(dir: &Path) -> Log {
    let log = open(dir);
    for round in 0..20 {
        log.append(&records(3, &format!("plain-{round}"))).unwrap();
        let producer = ProducerBatch {
            producer_id: 9,
            epoch: 0,
            base_sequence: round * 2,
        };
        log.append_idempotent(&records(2, &format!("idem-{round}")), producer, None)
            .unwrap();
        if round % 7 == 6 {
            log.roll().unwrap();
        }
    }
    assert!(
        log.segment_infos().len() > 1,
        "the copy must cross segments"
    );
    log
}

fn copy_all(from: &Log, to: &Log) {
    let mut next = from.log_start_offset();
    while next < from.high_watermark() {
        let batches = from.read_batches(next, 4096, 8).unwrap();
        assert!(!batches.is_empty());
        for raw in batches {
            let mut bytes = raw.bytes.to_vec();
            let info = to.write_batch(&mut bytes).unwrap();
            assert_eq!(info.base_offset, raw.header.base_offset);
            next = info.last_offset + 1;
        }
        to.sync_through(next).unwrap();
    }
}

#[test]
fn a_batch_by_batch_copy_holds_the_same_bytes_at_the_same_offsets() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let from = source(a.path());
    let to = open(b.path());
    copy_all(&from, &to);
    assert_eq!(to.high_watermark(), from.high_watermark());
    let original = from.read_batches(0, usize::MAX, usize::MAX).unwrap();
    let copied = to.read_batches(0, usize::MAX, usize::MAX).unwrap();
    assert_eq!(original, copied);
    let limits = ReadLimits {
        max_records: 1000,
        max_bytes: 1 << 20,
    };
    assert_eq!(from.read(0, limits).unwrap(), to.read(0, limits).unwrap());
}

#[test]
fn a_copy_keeps_the_producer_state_across_a_reopen() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let from = source(a.path());
    {
        let to = open(b.path());
        copy_all(&from, &to);
        to.close().unwrap();
    }
    let to = open(b.path());
    // The last batch of producer 9 had sequences 38..39: a retry is a duplicate.
    let retry = ProducerBatch {
        producer_id: 9,
        epoch: 0,
        base_sequence: 38,
    };
    let info = to
        .append_idempotent(&records(2, "idem-19"), retry, None)
        .unwrap();
    assert!(info.duplicate);
    assert_eq!(info.base_offset, from.high_watermark() - 2);
}

#[test]
fn a_copied_batch_that_compaction_emptied_keeps_its_producer_known() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let from = source(a.path());
    // Producer 9's last batch (sequences 38..39, keys key-0 and key-1) is superseded
    // by newer records of its keys and emptied by compaction.
    let emptied_at = from.high_watermark() - 2;
    from.append(&records(3, "newer")).unwrap();
    from.roll().unwrap();
    let compacted = from.compact(CompactionConfig::default()).unwrap();
    assert!(compacted.records_removed > 0);
    let batch = from.read_batches(emptied_at, usize::MAX, 1).unwrap();
    assert_eq!(batch[0].header.base_offset, emptied_at);
    assert_eq!(batch[0].header.record_count, 0, "the batch must be emptied");

    // Copied batch by batch, as a replica is sent its leader's log, and asked at once
    // (no reopen replays the headers): a retry of the emptied batch is a duplicate.
    let to = open(b.path());
    copy_all(&from, &to);
    let retry = ProducerBatch {
        producer_id: 9,
        epoch: 0,
        base_sequence: 38,
    };
    let info = to
        .append_idempotent(&records(2, "idem-19"), retry, None)
        .unwrap();
    assert!(
        info.duplicate,
        "the retry was appended again at {}",
        info.base_offset
    );
    assert_eq!(info.base_offset, emptied_at);
}

#[test]
fn reading_starts_at_the_batch_that_holds_the_offset_and_stops_at_the_byte_budget() {
    let a = tempfile::tempdir().unwrap();
    let log = source(a.path());
    let batches = log.read_batches(4, 1, 10).unwrap();
    assert_eq!(batches.len(), 1, "one batch even past the byte budget");
    assert_eq!(batches[0].header.base_offset, 3);
    let headers = log.batch_headers(4).unwrap();
    assert_eq!(headers.len(), 39);
    assert_eq!(headers[0].base_offset, 3);
    assert_eq!(headers.last().unwrap().next_offset(), log.high_watermark());
    assert!(matches!(
        log.read_batches(log.high_watermark() + 1, 10, 10),
        Err(ReadError::OutOfRange { .. })
    ));
}

#[test]
fn a_read_below_a_limit_ends_there() {
    let a = tempfile::tempdir().unwrap();
    let log = source(a.path());
    let limits = ReadLimits {
        max_records: 1000,
        max_bytes: 1 << 20,
    };
    let out = log.read_below(0, limits, 7).unwrap();
    assert_eq!(out.records.len(), 7);
    assert_eq!(out.high_watermark, 7);
    assert!(log.read_below(8, limits, 7).is_err());
}

#[test]
fn a_damaged_or_foreign_batch_is_refused_and_nothing_is_written() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let from = source(a.path());
    let to = open(b.path());
    let mut bytes = from.read_batches(0, 1, 1).unwrap()[0].bytes.to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    assert!(matches!(
        to.write_batch(&mut bytes),
        Err(AppendError::InvalidRecord { .. })
    ));
    assert!(to.write_batch(&mut b"not a batch".to_vec()).is_err());
    assert_eq!(to.high_watermark(), 0);
    // The leader term a replicator stamps is not covered by the CRC and is kept.
    let mut good = from.read_batches(0, 1, 1).unwrap()[0].bytes.to_vec();
    batch_v2::stamp_leader_epoch(&mut good, 7);
    to.write_batch(&mut good).unwrap();
    to.sync_through(3).unwrap();
    assert_eq!(to.read_batches(0, 1, 1).unwrap()[0].header.leader_epoch, 7);
}
