//! Reopening after crashes and damage: torn tails are cut to the longest valid
//! prefix, damage followed by valid data is reported and stepped over, derived
//! files (indexes, checkpoint) are rebuilt, and a flipped bit is never data.

use crate::storage_support;

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;

use eventlog::storage::{FsyncPolicy, ReadError, ReadLimits, Record};
use storage_support::*;

/// Appends `batches` batches of `n` records and drops the log without closing it,
/// as a crash would leave it. Returns the records and each batch's end position.
fn crashed_log(
    dir: &std::path::Path,
    batches: u64,
    n: u64,
    value_len: usize,
) -> (Vec<Record>, Vec<u64>) {
    let log = open(dir, small_config(FsyncPolicy::Always));
    let mut appended = Vec::new();
    let mut ends = Vec::new();
    for b in 0..batches {
        let records = batch(b, n, value_len);
        log.append(&records).unwrap();
        appended.extend(records);
        ends.push(log.stats().size_bytes);
    }
    drop(log);
    (appended, ends)
}

#[test]
fn cutting_the_active_segment_at_every_byte_keeps_the_longest_valid_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let (appended, ends) = crashed_log(dir.path(), 6, 3, 20);
    let per_batch = 3;
    let start = ends[ends.len() - 3];
    let end = *ends.last().unwrap();
    for cut in start..=end {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(dir.path(), copy.path());
        let file = OpenOptions::new()
            .write(true)
            .open(segment_path(copy.path(), 0))
            .unwrap();
        file.set_len(cut).unwrap();
        let log = open(copy.path(), small_config(FsyncPolicy::Always));
        let whole_batches = ends.iter().filter(|e| **e <= cut).count();
        let expect = whole_batches * per_batch;
        let all = read_all(&log, 0);
        assert_eq!(all.len(), expect, "cut at {cut}");
        for (stored, want) in all.iter().zip(&appended) {
            assert_same(stored, want);
        }
        assert!(
            log.recovery_report().damage.is_empty(),
            "a torn tail is not damage (cut {cut})"
        );
        // The log accepts appends right after the valid prefix.
        assert_eq!(
            log.append(&batch(100, 1, 5)).unwrap().base_offset,
            expect as u64
        );
    }
}

#[test]
fn garbage_after_the_tail_is_cut_and_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let (appended, ends) = crashed_log(dir.path(), 4, 2, 30);
    let end = *ends.last().unwrap();
    let file = OpenOptions::new()
        .write(true)
        .open(segment_path(dir.path(), 0))
        .unwrap();
    file.write_all_at(&[0xAB; 333], end).unwrap();
    drop(file);
    let log = open(dir.path(), small_config(FsyncPolicy::Always));
    assert_eq!(log.recovery_report().torn_tail_bytes, 333);
    assert_eq!(read_all(&log, 0).len(), appended.len());
    log.append(&batch(9, 1, 5)).unwrap();
    drop(log);
    // A second crash must not resurrect any of the old garbage.
    let log = open(dir.path(), small_config(FsyncPolicy::Always));
    assert_eq!(log.recovery_report().torn_tail_bytes, 0);
    assert_eq!(read_all(&log, 0).len(), appended.len() + 1);
}

#[test]
fn damage_followed_by_valid_batches_is_reported_and_the_rest_stays_readable() {
    let dir = tempfile::tempdir().unwrap();
    let (appended, ends) = crashed_log(dir.path(), 10, 2, 30);
    // Flip a bit inside batch 4 (offsets 8 and 9).
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(segment_path(dir.path(), 0))
        .unwrap();
    let at = ends[3] + 50;
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, at).unwrap();
    file.write_all_at(&[byte[0] ^ 0x10], at).unwrap();
    drop(file);
    let log = open(dir.path(), small_config(FsyncPolicy::Always));
    let report = log.recovery_report();
    assert_eq!(report.damage.len(), 1);
    assert_eq!(
        report.damage[0].1, ends[3],
        "reported at the damaged batch's position"
    );
    assert_eq!(
        log.high_watermark(),
        appended.len() as u64,
        "valid data after the damage is kept"
    );
    // Reading up to the damage returns the good records, then stops.
    let first = log
        .read(
            0,
            ReadLimits {
                max_records: 100,
                max_bytes: 1 << 20,
            },
        )
        .unwrap();
    assert_eq!(first.records.len(), 8);
    match log.read(8, ReadLimits::default()) {
        Err(ReadError::Corrupt {
            position,
            next_readable: Some(10),
            ..
        }) => assert_eq!(position, ends[3]),
        other => panic!("expected corruption error, got {other:?}"),
    }
    let rest = read_all(&log, 10);
    assert_eq!(rest.len(), appended.len() - 10);
    for (stored, want) in rest.iter().zip(&appended[10..]) {
        assert_same(stored, want);
    }
}

/// Builds a log with several sealed segments and returns its records.
fn rolled_log(dir: &std::path::Path) -> Vec<Record> {
    let log = open(dir, small_config(FsyncPolicy::Never));
    let mut appended = Vec::new();
    for b in 0..50 {
        let records = batch(b, 20, 2500);
        log.append(&records).unwrap();
        appended.extend(records);
    }
    assert!(log.stats().segment_count >= 3);
    log.close().unwrap();
    appended
}

fn assert_lookups_work(dir: &std::path::Path, appended: &[Record]) {
    let log = open(dir, small_config(FsyncPolicy::Never));
    for offset in [0u64, 1, 399, 400, 401, 777, appended.len() as u64 - 1] {
        let got = log
            .read(
                offset,
                ReadLimits {
                    max_records: 1,
                    max_bytes: 1 << 20,
                },
            )
            .unwrap();
        assert_eq!(got.records[0].offset, offset);
        assert_same(&got.records[0], &appended[offset as usize]);
        let ts = appended[offset as usize].timestamp_ms;
        let by_time = log.offset_for_timestamp(ts).unwrap().unwrap();
        assert_eq!(
            appended[by_time as usize].timestamp_ms, ts,
            "time lookup for offset {offset}"
        );
    }
}

#[test]
fn a_deleted_index_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let appended = rolled_log(dir.path());
    std::fs::remove_file(index_path(dir.path(), 0)).unwrap();
    assert_lookups_work(dir.path(), &appended);
    assert!(
        index_path(dir.path(), 0).exists(),
        "the rebuilt index is written back"
    );
}

#[test]
fn a_zeroed_or_short_index_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let appended = rolled_log(dir.path());
    let path = index_path(dir.path(), 0);
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::write(&path, vec![0u8; len as usize]).unwrap();
    assert_lookups_work(dir.path(), &appended);
    let file = OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len - 5).unwrap();
    drop(file);
    assert_lookups_work(dir.path(), &appended);
}

#[test]
fn a_lying_index_with_a_valid_shape_is_caught_by_its_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let appended = rolled_log(dir.path());
    let path = index_path(dir.path(), 0);
    let mut bytes = std::fs::read(&path).unwrap();
    // Shift the first entry's position by one byte: still ordered, but wrong.
    bytes[20] = bytes[20].wrapping_add(1);
    std::fs::write(&path, bytes).unwrap();
    assert_lookups_work(dir.path(), &appended);
}

#[test]
fn a_lost_checkpoint_is_rebuilt_by_scanning() {
    let dir = tempfile::tempdir().unwrap();
    let appended = rolled_log(dir.path());
    std::fs::remove_file(dir.path().join("checkpoint")).unwrap();
    let log = open(dir.path(), small_config(FsyncPolicy::Never));
    assert!(log.recovery_report().checkpoint_rebuilt);
    assert_eq!(read_all(&log, 0).len(), appended.len());
    drop(log);
    assert_lookups_work(dir.path(), &appended);
}

#[test]
fn a_crash_between_sealing_data_and_writing_the_index_loses_nothing() {
    // Sealing syncs the data, writes the index, then stores the checkpoint. A crash
    // after the data but before the checkpoint leaves an index file the checkpoint
    // does not vouch for (or none) and an empty next segment: model it by removing
    // the newest checkpoint entry's index and rebuilding the checkpoint.
    let dir = tempfile::tempdir().unwrap();
    let appended = rolled_log(dir.path());
    let bases = segment_bases(dir.path());
    let newest_sealed = bases[bases.len() - 2];
    std::fs::remove_file(index_path(dir.path(), newest_sealed)).unwrap();
    std::fs::remove_file(dir.path().join("checkpoint")).unwrap();
    assert_lookups_work(dir.path(), &appended);
}

#[test]
fn a_flipped_bit_in_a_sealed_segment_is_reported_never_returned() {
    let dir = tempfile::tempdir().unwrap();
    let appended = rolled_log(dir.path());
    let path = segment_path(dir.path(), 0);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let at = 100_000;
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, at).unwrap();
    file.write_all_at(&[byte[0] ^ 1], at).unwrap();
    drop(file);
    let log = open(dir.path(), small_config(FsyncPolicy::Never));
    let mut next = 0;
    let mut seen = Vec::new();
    let mut errors = 0;
    while next < log.high_watermark() {
        match log.read(
            next,
            ReadLimits {
                max_records: 100,
                max_bytes: 1 << 20,
            },
        ) {
            Ok(got) => {
                next = got.next_offset;
                seen.extend(got.records);
            }
            Err(ReadError::Corrupt {
                segment,
                position,
                next_readable: Some(resume),
                ..
            }) => {
                assert_eq!(segment, path);
                assert!(
                    position <= at && at < position + 60_000,
                    "position {position} locates the damage"
                );
                assert!(resume > next);
                errors += 1;
                next = resume;
            }
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!(errors, 1);
    // Every record returned is intact; only the damaged batch is missing.
    for stored in &seen {
        assert_same(stored, &appended[stored.offset as usize]);
    }
    assert_eq!(seen.len(), appended.len() - 20);
}

#[test]
fn a_stray_swap_file_from_an_uncommitted_truncation_is_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let appended = rolled_log(dir.path());
    std::fs::write(
        dir.path().join(format!("{:020}.log.swap", 0)),
        b"half-written",
    )
    .unwrap();
    let log = open(dir.path(), small_config(FsyncPolicy::Never));
    assert_eq!(read_all(&log, 0).len(), appended.len());
    assert!(!dir.path().join(format!("{:020}.log.swap", 0)).exists());
}

#[test]
fn a_foreign_file_is_refused_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        segment_path(dir.path(), 0),
        b"definitely not a segment, but longer than sixteen bytes",
    )
    .unwrap();
    let err = eventlog::storage::Log::open(
        dir.path(),
        eventlog::storage::LogIdent::new("t", 0),
        small_config(FsyncPolicy::Never),
    );
    assert!(matches!(
        err,
        Err(eventlog::storage::OpenError::ForeignFile { .. })
    ));
    assert!(
        std::fs::read(segment_path(dir.path(), 0))
            .unwrap()
            .starts_with(b"definitely")
    );
}

#[test]
fn an_empty_active_file_left_by_a_crash_is_started_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let appended = rolled_log(dir.path());
    let bases = segment_bases(dir.path());
    let active = segment_path(dir.path(), *bases.last().unwrap());
    // Keep only what was sealed: the active segment is an empty file, as after a
    // crash between creating it and writing its header.
    let sealed_records = {
        let log = open(dir.path(), small_config(FsyncPolicy::Never));
        log.segment_infos().last().unwrap().base_offset
    };
    std::fs::write(&active, b"").unwrap();
    for round in 0..2 {
        let log = open(dir.path(), small_config(FsyncPolicy::Never));
        assert_eq!(log.high_watermark(), sealed_records + round);
        assert_eq!(
            log.append(&batch(7, 1, 10)).unwrap().base_offset,
            sealed_records + round
        );
        let all = read_all(&log, 0);
        assert_eq!(all.len() as u64, sealed_records + round + 1);
        for stored in all.iter().take(sealed_records as usize) {
            assert_same(stored, &appended[stored.offset as usize]);
        }
    }
}
