//! A log written in batch format version 1 (what versions before format 4 wrote) keeps
//! working after the change to version 2: it opens and reads unchanged, appends go on
//! in version 2 segments, and compaction, truncation, recovery and `verify` handle a
//! log holding both. (`tests/suite/upgrade_from_v1.rs` does the same with a data directory
//! an older release wrote.)

use std::path::Path;

use bytes::Bytes;

use crate::storage::batch::{BatchFormat, RecordView};
use crate::storage::verify::{self, WalkEvent};
use crate::storage::{Log, LogConfig, LogIdent, ReadLimits, Record, StoredRecord};

fn config(format: BatchFormat) -> LogConfig {
    LogConfig {
        batch_format: format,
        ..LogConfig::small()
    }
}

fn open(dir: &Path, format: BatchFormat) -> Log {
    Log::open(dir, LogIdent::new("t", 0), config(format)).unwrap()
}

/// Batch `b` of ten records: keys `k0`..`k9`, 2.4 KB values naming the batch.
fn batch(b: u32) -> Vec<Record> {
    (0..10)
        .map(|i| Record {
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(format!("{b:03}:{i}:").repeat(400))),
            headers: vec![crate::storage::Header {
                key: "batch".into(),
                value: Bytes::from(b.to_string()),
            }],
            timestamp_ms: 1_700_000_000_000 + i64::from(b),
        })
        .collect()
}

fn append_batches(log: &Log, batches: std::ops::Range<u32>) {
    for b in batches {
        log.append(&batch(b)).unwrap();
    }
}

fn read_all(log: &Log) -> Vec<StoredRecord> {
    let mut out = Vec::new();
    let mut next = 0;
    loop {
        let read = log.read(next, ReadLimits::default()).unwrap();
        if read.records.is_empty() {
            return out;
        }
        next = read.next_offset;
        out.extend(read.records);
    }
}

/// What `batches` appended from offset 0 read back as.
fn expected(batches: std::ops::Range<u32>) -> Vec<(u64, Record)> {
    batches
        .flat_map(batch)
        .enumerate()
        .map(|(i, r)| (i as u64, r))
        .collect()
}

fn assert_reads(log: &Log, want: &[(u64, Record)]) {
    let got = read_all(log);
    assert_eq!(got.len(), want.len());
    for (got, (offset, want)) in got.iter().zip(want) {
        assert_eq!(got.offset, *offset);
        assert_eq!(
            (&got.key, &got.value, &got.headers, got.timestamp_ms),
            (&want.key, &want.value, &want.headers, want.timestamp_ms)
        );
    }
}

/// The segment files of `dir` with the format their magic names, in offset order.
fn formats(dir: &Path) -> Vec<BatchFormat> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| BatchFormat::of_segment(&std::fs::read(p).unwrap()).unwrap())
        .collect()
}

#[test]
fn a_version_1_log_reads_unchanged_and_appends_go_on_in_version_2() {
    let dir = tempfile::tempdir().unwrap();
    let old = open(dir.path(), BatchFormat::V1);
    append_batches(&old, 0..60);
    old.close().unwrap();
    drop(old);
    let before = formats(dir.path());
    assert!(before.len() >= 2 && before.iter().all(|f| *f == BatchFormat::V1));

    let log = open(dir.path(), BatchFormat::V2);
    assert_reads(&log, &expected(0..60));
    append_batches(&log, 60..70);
    let after = formats(dir.path());
    assert_eq!(
        after[..before.len()],
        before[..],
        "old segments stay version 1"
    );
    assert_eq!(after[before.len()..], [BatchFormat::V2]);
    assert_reads(&log, &expected(0..70));
    log.close().unwrap();
    drop(log);

    // Reopened after a clean close, and after a crash (no close).
    let log = open(dir.path(), BatchFormat::V2);
    assert!(log.recovery_report().scan_skipped);
    assert_reads(&log, &expected(0..70));
    append_batches(&log, 70..72);
    drop(log);
    let log = open(dir.path(), BatchFormat::V2);
    assert_reads(&log, &expected(0..72));
    assert!(verify_is_clean(dir.path()));
}

#[test]
fn an_empty_version_1_active_segment_turns_version_2_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let old = open(dir.path(), BatchFormat::V1);
    append_batches(&old, 0..3);
    old.roll().unwrap();
    old.close().unwrap();
    drop(old);
    assert_eq!(formats(dir.path()), [BatchFormat::V1, BatchFormat::V1]);
    let log = open(dir.path(), BatchFormat::V2);
    assert_eq!(formats(dir.path()), [BatchFormat::V1, BatchFormat::V2]);
    append_batches(&log, 3..5);
    assert_eq!(formats(dir.path()), [BatchFormat::V1, BatchFormat::V2]);
    assert_reads(&log, &expected(0..5));
}

#[test]
fn truncating_into_a_version_1_segment_then_appending_rolls_to_version_2() {
    let dir = tempfile::tempdir().unwrap();
    let old = open(dir.path(), BatchFormat::V1);
    append_batches(&old, 0..5);
    old.close().unwrap();
    drop(old);
    let log = open(dir.path(), BatchFormat::V2);
    log.truncate_to(25).unwrap();
    assert_reads(&log, &expected(0..5)[..25]);
    log.append(&batch(9)).unwrap();
    assert_eq!(formats(dir.path()), [BatchFormat::V1, BatchFormat::V2]);
    let mut want = expected(0..5)[..25].to_vec();
    want.extend(
        batch(9)
            .into_iter()
            .enumerate()
            .map(|(i, r)| (25 + i as u64, r)),
    );
    assert_reads(&log, &want);
}

#[test]
fn compaction_rewrites_both_formats_as_version_2_and_keeps_emptied_headers() {
    let dir = tempfile::tempdir().unwrap();
    let old = open(dir.path(), BatchFormat::V1);
    append_batches(&old, 0..60);
    old.close().unwrap();
    drop(old);
    let log = open(dir.path(), BatchFormat::V2);
    append_batches(&log, 60..130);
    log.roll().unwrap();
    let high_watermark = log.high_watermark();
    // Keep only the records of even batches.
    let keep = |_: u64, r: &RecordView<'_>| {
        let b: u32 = std::str::from_utf8(r.value.unwrap())
            .unwrap()
            .split(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        b.is_multiple_of(2)
    };
    let stats = log.rewrite_sealed(keep).unwrap();
    assert_eq!(stats.records_removed, 650);
    let sealed = formats(dir.path());
    assert!(sealed.iter().all(|f| *f == BatchFormat::V2), "{sealed:?}");
    let want: Vec<_> = expected(0..130)
        .into_iter()
        .filter(|(offset, _)| (offset / 10) % 2 == 0)
        .collect();
    assert_reads(&log, &want);
    assert_eq!(log.high_watermark(), high_watermark);
    // The odd batches written in version 2 are still there, empty; those written in
    // version 1 are gone (they carry no producer or term to keep).
    let empty = batches_with_no_records(dir.path());
    assert_eq!(empty, 35, "one empty batch per odd version 2 batch");
    drop(log);
    let log = open(dir.path(), BatchFormat::V2);
    assert_reads(&log, &want);
    assert!(verify_is_clean(dir.path()));
}

fn batches_with_no_records(dir: &Path) -> usize {
    let mut empty = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log") {
            verify::walk(&path, &mut |event| {
                if let WalkEvent::Batch { header, .. } = event
                    && header.record_count == 0
                {
                    empty += 1;
                }
            })
            .unwrap();
        }
    }
    empty
}

fn verify_is_clean(dir: &Path) -> bool {
    let report = verify::verify(dir).unwrap();
    report.problems.is_empty()
}

#[test]
fn damage_in_a_version_1_segment_is_found_by_the_scrub_and_stepped_over_by_reads() {
    let dir = tempfile::tempdir().unwrap();
    let old = open(dir.path(), BatchFormat::V1);
    append_batches(&old, 0..60);
    old.close().unwrap();
    drop(old);
    let first = dir.path().join("00000000000000000000.log");
    let mut bytes = std::fs::read(&first).unwrap();
    // A byte inside the third batch's records (each batch is about 24 KB).
    let at = 2 * 24_000 + 1000;
    bytes[at] ^= 0x55;
    std::fs::write(&first, &bytes).unwrap();

    let log = open(dir.path(), BatchFormat::V2);
    let sealed = log.segments_to_scrub();
    let scrubbed = crate::storage::scrub::scrub_segment(&sealed[0]).unwrap();
    assert_eq!(scrubbed.damage.len(), 1, "{:?}", scrubbed.damage);
    let damage = &scrubbed.damage[0];
    assert_eq!(damage.resume_offset, Some(30), "{damage:?}");
    // Reading from the damaged batch fails naming where to resume; the rest reads.
    match log.read(20, ReadLimits::default()) {
        Err(crate::storage::ReadError::Corrupt { next_readable, .. }) => {
            assert_eq!(next_readable, Some(30))
        }
        other => panic!("expected the damage, got {other:?}"),
    }
    let rest = log.read(30, ReadLimits::default()).unwrap();
    assert_eq!(rest.records[0].offset, 30);
    assert_eq!(rest.records[0].value, batch(3)[0].value);
}
