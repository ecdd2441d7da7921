//! The partition log's append/read contract: dense offsets, limits, ranges, rolls,
//! lookups by time, optimistic appends, retention and truncation.

use crate::storage_support;

use eventlog::storage::{AppendError, FsyncPolicy, LogConfig, ReadError, ReadLimits, Record};
use storage_support::*;

#[test]
fn append_assigns_dense_offsets_and_reads_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(FsyncPolicy::Always));
    let mut appended = Vec::new();
    for b in 0..20 {
        let records = batch(b, 1 + b % 5, 50);
        let info = log.append(&records).unwrap();
        assert_eq!(info.base_offset, appended.len() as u64);
        assert_eq!(
            info.last_offset,
            info.base_offset + records.len() as u64 - 1
        );
        appended.extend(records);
    }
    assert_eq!(log.high_watermark(), appended.len() as u64);
    let all = read_all(&log, 0);
    assert_eq!(all.len(), appended.len());
    for (i, (stored, want)) in all.iter().zip(&appended).enumerate() {
        assert_eq!(stored.offset, i as u64);
        assert_same(stored, want);
    }
    // Reading from the middle of a batch starts at exactly that offset.
    assert_eq!(read_all(&log, 7)[0].offset, 7);
}

#[test]
fn tombstones_and_keyless_records_survive() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(FsyncPolicy::Never));
    let tombstone = Record {
        key: Some("k".into()),
        value: None,
        headers: vec![],
        timestamp_ms: 5,
    };
    let keyless = Record {
        key: None,
        value: Some("v".into()),
        headers: vec![],
        timestamp_ms: 6,
    };
    log.append(&[tombstone.clone(), keyless.clone()]).unwrap();
    let all = read_all(&log, 0);
    assert_same(&all[0], &tombstone);
    assert_same(&all[1], &keyless);
}

#[test]
fn limits_bound_reads_but_one_record_always_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(FsyncPolicy::Never));
    log.append(&batch(0, 10, 1000)).unwrap();
    let got = log
        .read(
            0,
            ReadLimits {
                max_records: 3,
                max_bytes: 1 << 20,
            },
        )
        .unwrap();
    assert_eq!(got.records.len(), 3);
    assert_eq!(got.next_offset, 3);
    let got = log
        .read(
            3,
            ReadLimits {
                max_records: 100,
                max_bytes: 10,
            },
        )
        .unwrap();
    assert_eq!(
        got.records.len(),
        1,
        "a record larger than max_bytes still comes back alone"
    );
    let one = got.records[0].encoded_len();
    let got = log
        .read(
            0,
            ReadLimits {
                max_records: 100,
                max_bytes: one * 4 + 1,
            },
        )
        .unwrap();
    assert_eq!(got.records.len(), 4);
}

#[test]
fn out_of_range_reads_carry_the_valid_range() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(FsyncPolicy::Never));
    log.append(&batch(0, 5, 10)).unwrap();
    let at_end = log.read(5, ReadLimits::default()).unwrap();
    assert!(at_end.records.is_empty());
    assert_eq!(at_end.next_offset, 5);
    match log.read(6, ReadLimits::default()) {
        Err(ReadError::OutOfRange {
            offset: 6,
            log_start: 0,
            high_watermark: 5,
        }) => {}
        other => panic!("expected out of range, got {other:?}"),
    }
}

#[test]
fn empty_and_oversized_batches_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(FsyncPolicy::Never));
    assert!(matches!(log.append(&[]), Err(AppendError::EmptyBatch)));
    let huge = batch(0, 1, 2 << 20);
    assert!(matches!(
        log.append(&huge),
        Err(AppendError::BatchTooLarge { .. })
    ));
    assert_eq!(log.high_watermark(), 0);
}

#[test]
fn rolls_segments_and_reopens_with_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut appended = Vec::new();
    {
        let log = open(dir.path(), small_config(FsyncPolicy::Never));
        for b in 0..60 {
            let records = batch(b, 20, 2000);
            log.append(&records).unwrap();
            appended.extend(records);
        }
        assert!(log.stats().segment_count >= 2, "{:?}", log.stats());
        log.close().unwrap();
    }
    let log = open(dir.path(), small_config(FsyncPolicy::Never));
    let report = log.recovery_report();
    assert_eq!(report.torn_tail_bytes, 0);
    assert!(report.damage.is_empty());
    assert_eq!(
        report.segments_scanned, 0,
        "after a clean close not even the active segment is scanned"
    );
    assert!(report.scan_skipped);
    let all = read_all(&log, 0);
    assert_eq!(all.len(), appended.len());
    for (stored, want) in all.iter().zip(&appended) {
        assert_same(stored, want);
    }
    // Appends continue where the log left off.
    assert_eq!(
        log.append(&batch(99, 1, 10)).unwrap().base_offset,
        appended.len() as u64
    );
}

#[test]
fn timestamp_lookup_finds_the_first_record_at_or_after() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(FsyncPolicy::Never));
    for b in 0..500u64 {
        let records: Vec<Record> = (0..4)
            .map(|i| Record {
                timestamp_ms: (b * 4 + i) as i64 * 10,
                ..record(b, i, 600)
            })
            .collect();
        log.append(&records).unwrap();
    }
    assert!(log.stats().segment_count >= 2);
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some(0));
    assert_eq!(log.offset_for_timestamp(15).unwrap(), Some(2));
    assert_eq!(log.offset_for_timestamp(12_340).unwrap(), Some(1234));
    assert_eq!(log.offset_for_timestamp(19_990).unwrap(), Some(1999));
    assert_eq!(log.offset_for_timestamp(20_000).unwrap(), None);
}

#[test]
fn expected_next_offset_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(FsyncPolicy::Never));
    log.append_expecting(&batch(0, 2, 10), 0).unwrap();
    match log.append_expecting(&batch(1, 1, 10), 0) {
        Err(AppendError::OffsetMismatch {
            expected: 0,
            actual: 2,
        }) => {}
        other => panic!("expected mismatch, got {other:?}"),
    }
    assert_eq!(
        log.append_expecting(&batch(1, 1, 10), 2)
            .unwrap()
            .base_offset,
        2
    );
}

#[test]
fn racing_expected_appends_have_exactly_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(FsyncPolicy::Always));
    let wins: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                s.spawn({
                    let log = &log;
                    move || log.append_expecting(&batch(t, 1, 10), 0).is_ok() as usize
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(wins, 1);
    assert_eq!(log.high_watermark(), 1);
}

#[test]
fn retention_deletes_whole_segments_and_moves_the_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(FsyncPolicy::Never));
    for b in 0..80 {
        log.append(&batch(b, 20, 2000)).unwrap();
    }
    let before = log.stats();
    assert!(before.segment_count >= 3);
    let deleted = log.delete_segments_below(1000).unwrap();
    assert!(deleted.segments >= 1);
    assert!(deleted.log_start_offset <= 1000 && deleted.log_start_offset > 0);
    assert_eq!(log.log_start_offset(), deleted.log_start_offset);
    assert!(
        matches!(log.read(0, ReadLimits::default()), Err(ReadError::OutOfRange { log_start, .. }) if log_start == deleted.log_start_offset)
    );
    assert_eq!(
        read_all(&log, deleted.log_start_offset).len() as u64,
        before.high_watermark - deleted.log_start_offset
    );
    drop(log);
    let log = open(dir.path(), small_config(FsyncPolicy::Never));
    assert_eq!(log.log_start_offset(), deleted.log_start_offset);
    assert_eq!(log.high_watermark(), before.high_watermark);
}

#[test]
fn truncate_removes_the_tail_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(FsyncPolicy::Always));
    let mut appended = Vec::new();
    for b in 0..60 {
        let records = batch(b, 20, 2000);
        log.append(&records).unwrap();
        appended.extend(records);
    }
    let cut = 513; // inside a batch, in an earlier segment
    log.truncate_to(cut).unwrap();
    assert_eq!(log.high_watermark(), cut);
    let next = log.append(&batch(1000, 3, 10)).unwrap();
    assert_eq!(next.base_offset, cut);
    drop(log);
    let log = open(dir.path(), small_config(FsyncPolicy::Always));
    let all = read_all(&log, 0);
    assert_eq!(all.len() as u64, cut + 3);
    for (stored, want) in all.iter().zip(&appended[..cut as usize]) {
        assert_same(stored, want);
    }
}

#[test]
fn the_active_file_grows_in_steps_so_a_crash_leaves_little_to_scan() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 64 << 20,
        ..small_config(FsyncPolicy::Never)
    };
    let mut appended = Vec::new();
    {
        let log = open(dir.path(), config.clone());
        let fresh = std::fs::metadata(segment_path(dir.path(), 0))
            .unwrap()
            .len();
        assert!(
            fresh <= (8 << 20) + 16,
            "a new segment starts small, not at its full capacity: {fresh}"
        );
        for b in 0..200 {
            let records = batch(b, 10, 10_000);
            log.append(&records).unwrap();
            appended.extend(records);
            // A reader keeps up while the file grows and is remapped.
            let got = log
                .read(
                    b * 10,
                    ReadLimits {
                        max_records: 10,
                        max_bytes: 1 << 20,
                    },
                )
                .unwrap();
            assert_eq!(got.records.len(), 10);
        }
        let data = log.stats().size_bytes;
        let len = std::fs::metadata(segment_path(dir.path(), 0))
            .unwrap()
            .len();
        assert!(
            data > 16 << 20 && len > data && len <= data + (8 << 20) + (1 << 20),
            "data {data}, file {len}"
        );
    } // dropped without close: as after a crash
    let log = open(dir.path(), config);
    assert_eq!(log.recovery_report().torn_tail_bytes, 0);
    let all = read_all(&log, 0);
    assert_eq!(all.len(), appended.len());
    for (stored, want) in all.iter().zip(&appended) {
        assert_same(stored, want);
    }
}

#[test]
fn segment_infos_describe_every_segment_and_config_changes_apply() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(FsyncPolicy::Never));
    log.append(&batch(0, 3, 10)).unwrap();
    log.roll().unwrap();
    log.append(&batch(1, 2, 10)).unwrap();
    let infos = log.segment_infos();
    assert_eq!(infos.len(), 2);
    assert_eq!(
        (infos[0].base_offset, infos[0].next_offset, infos[0].sealed),
        (0, 3, true)
    );
    assert_eq!(
        (infos[1].base_offset, infos[1].next_offset, infos[1].sealed),
        (3, 5, false)
    );
    assert_eq!(infos[0].max_timestamp_ms, record(0, 2, 10).timestamp_ms);
    let mut config = log.config();
    config.segment_bytes = 500;
    assert!(
        log.update_config(config).is_err(),
        "an invalid config is refused"
    );
    let mut config = log.config();
    config.max_batch_bytes = 100;
    log.update_config(config).unwrap();
    assert!(matches!(
        log.append(&batch(2, 5, 50)),
        Err(AppendError::BatchTooLarge { max: 100, .. })
    ));
}
