//! Resynchronising past damage never adopts a batch that does not continue the log:
//! a producer may store a whole encoded batch inside a record value, and once the
//! batch around it is damaged that inner batch has a valid CRC at an unaligned position.
//! Offsets near the largest a batch can hold (Kafka's `int64`) are refused with a
//! typed error, never a panic.

use crate::storage_support;

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;

use eventlog::storage::batch::v2::{self, CRC, MAX_OFFSET};
use eventlog::storage::batch::{self, BatchFormat};
use eventlog::storage::{AppendError, FsyncPolicy, Record};
use storage_support::*;

/// A valid encoded batch claiming `base`, to be stored as a record value.
fn embedded_batch(base: u64) -> Vec<u8> {
    let inner = Record {
        value: Some(b"forged".to_vec().into()),
        ..Record::default()
    };
    let mut buf = Vec::new();
    batch::encode(BatchFormat::V2, &mut buf, std::iter::once((0u32, &inner))).unwrap();
    batch::seal(BatchFormat::V2, &mut buf, base);
    buf
}

/// Appends a batch, then one whose value holds a batch claiming offset 2^62, then
/// `after` more batches; damages the CRC of the batch holding the forgery and drops the
/// log without closing it (a crash). Returns the damaged batch's position.
fn forged_log(dir: &std::path::Path, after: u64) -> u64 {
    let log = open(dir, small_config(FsyncPolicy::Always));
    log.append(&batch(0, 2, 10)).unwrap();
    let at = log.stats().size_bytes;
    let holder = Record {
        value: Some(embedded_batch(1 << 62).into()),
        ..Record::default()
    };
    log.append(&[holder]).unwrap();
    for b in 0..after {
        log.append(&batch(b + 1, 2, 10)).unwrap();
    }
    drop(log);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(segment_path(dir, 0))
        .unwrap();
    let mut crc = [0u8; 4];
    file.read_exact_at(&mut crc, at + CRC as u64).unwrap();
    crc[0] ^= 0xff;
    file.write_all_at(&crc, at + CRC as u64).unwrap();
    at
}

#[test]
fn a_batch_inside_a_damaged_last_batch_is_cut_with_it() {
    let dir = tempfile::tempdir().unwrap();
    forged_log(dir.path(), 0);
    let log = open(dir.path(), small_config(FsyncPolicy::Always));
    assert_eq!(
        log.high_watermark(),
        2,
        "the damaged last batch is a torn tail"
    );
    let next = log.append(&batch(9, 1, 10)).unwrap();
    assert_eq!(next.base_offset, 2);
    assert_eq!(read_all(&log, 0).len(), 3);
}

#[test]
fn a_batch_inside_a_damaged_batch_is_stepped_over_to_the_real_next_batch() {
    let dir = tempfile::tempdir().unwrap();
    let at = forged_log(dir.path(), 2);
    let log = open(dir.path(), small_config(FsyncPolicy::Always));
    let report = log.recovery_report();
    assert_eq!(report.damage.len(), 1, "{report:?}");
    assert_eq!(report.damage[0].1, at);
    // 2 records, the damaged one at offset 2, then two batches of 2.
    assert_eq!(log.high_watermark(), 7);
    assert_eq!(log.append(&batch(9, 1, 10)).unwrap().base_offset, 7);
    let rest = read_all(&log, 3);
    assert_eq!(rest.first().map(|r| r.offset), Some(3));
    assert!(
        rest.iter()
            .all(|r| r.value.as_deref() != Some(&b"forged"[..]))
    );
}

#[test]
fn a_damaged_header_with_a_forgery_inside_resyncs_only_to_the_real_next_batch() {
    let dir = tempfile::tempdir().unwrap();
    let at = forged_log(dir.path(), 2);
    // Also destroy the damaged batch's offsets and length: only a scan can resync.
    let file = OpenOptions::new()
        .write(true)
        .open(segment_path(dir.path(), 0))
        .unwrap();
    file.write_all_at(&[0xee; 16], at).unwrap();
    file.write_all_at(&[0xee; 4], at + v2::LAST_OFFSET_DELTA as u64)
        .unwrap();
    drop(file);
    let log = open(dir.path(), small_config(FsyncPolicy::Always));
    assert_eq!(log.high_watermark(), 7, "{:?}", log.recovery_report());
    assert_eq!(log.append(&batch(9, 1, 10)).unwrap().base_offset, 7);
}

#[test]
fn a_log_at_the_last_offset_refuses_appends_with_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(FsyncPolicy::Always));
    drop(log);
    // The active segment's first batch sits at a batch boundary and claims the
    // last offset a batch can hold (as a compaction gap may legitimately do).
    let last = embedded_batch(MAX_OFFSET - 1);
    let file = OpenOptions::new()
        .write(true)
        .open(segment_path(dir.path(), 0))
        .unwrap();
    file.write_all_at(&last, 16).unwrap();
    drop(file);
    let log = open(dir.path(), small_config(FsyncPolicy::Always));
    assert_eq!(log.high_watermark(), MAX_OFFSET);
    match log.append(&batch(1, 1, 10)) {
        Err(AppendError::OffsetsExhausted { next_offset, .. }) => {
            assert_eq!(next_offset, MAX_OFFSET)
        }
        other => panic!("expected OffsetsExhausted, got {other:?}"),
    }
    // Nothing was written, and the log still works for what it can do.
    assert!(log.poisoned().is_none());
    assert_eq!(read_all(&log, MAX_OFFSET - 1).len(), 1);
    log.tick().unwrap();
}
