//! Rewriting sealed segments (the compaction hook): kept records keep their offsets
//! and bytes, removed ones leave gaps, readers inside old segments are undisturbed,
//! and the result survives a reopen.

use crate::storage_support;

use eventlog::storage::{FsyncPolicy, ReadLimits};
use storage_support::*;

#[test]
fn kept_records_keep_offsets_and_bytes_and_readers_are_undisturbed() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(FsyncPolicy::Never));
    let mut appended = Vec::new();
    for b in 0..60 {
        let records = batch(b, 20, 2000);
        log.append(&records).unwrap();
        appended.extend(records);
    }
    let before = log.stats();
    assert!(before.segment_count >= 3);
    // A reader in the middle of an old segment, before the rewrite.
    let mid = log
        .read(
            101,
            ReadLimits {
                max_records: 10,
                max_bytes: 1 << 20,
            },
        )
        .unwrap();
    let stats = log.rewrite_sealed(|offset, _| offset % 3 == 0).unwrap();
    assert!(stats.records_removed > 0);
    assert!(stats.bytes_after < stats.bytes_before);
    assert!(stats.segments_after <= stats.segments_before);
    // The reader continues from where it was: no error, no duplicate, only kept offsets.
    let cont = log
        .read(
            mid.next_offset,
            ReadLimits {
                max_records: 10,
                max_bytes: 1 << 20,
            },
        )
        .unwrap();
    assert!(cont.records.iter().all(|r| r.offset >= mid.next_offset));
    let check = |log: &eventlog::storage::Log| {
        let all = read_all(log, 0);
        // The active segment is not rewritten: every offset from its base survives.
        let active_base = all
            .iter()
            .map(|r| r.offset)
            .filter(|o| o % 3 != 0)
            .min()
            .unwrap();
        assert!(active_base > 400, "sealed segments were rewritten");
        let mut expected: Vec<u64> = (0..appended.len() as u64).collect();
        expected.retain(|o| o % 3 == 0 || *o >= active_base);
        assert_eq!(all.iter().map(|r| r.offset).collect::<Vec<_>>(), expected);
        for stored in &all {
            assert_same(stored, &appended[stored.offset as usize]);
        }
    };
    check(&log);
    assert_eq!(log.high_watermark(), before.high_watermark);
    drop(log);
    let log = open(dir.path(), small_config(FsyncPolicy::Never));
    check(&log);
    assert_eq!(
        log.append(&batch(999, 1, 1)).unwrap().base_offset,
        before.high_watermark
    );
}

#[test]
fn a_roll_during_a_rewrite_keeps_the_new_segment_in_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(FsyncPolicy::Never));
    for b in 0..30 {
        log.append(&batch(b, 20, 2000)).unwrap();
    }
    log.roll().unwrap();
    let mut rolled = false;
    log.rewrite_sealed(|offset, _| {
        if !rolled {
            // Appends and a roll go on while the rewrite runs.
            log.append(&batch(500, 5, 10)).unwrap();
            log.roll().unwrap();
            rolled = true;
        }
        offset % 2 == 0
    })
    .unwrap();
    let hw = log.high_watermark();
    // Retention over everything sealed must neither panic nor lose the newer segment.
    log.delete_segments_below(1).unwrap();
    drop(log);
    let log = open(dir.path(), small_config(FsyncPolicy::Never));
    assert!(
        !log.recovery_report().checkpoint_rebuilt,
        "the stored checkpoint stays valid"
    );
    assert_eq!(log.high_watermark(), hw);
    let tail: Vec<u64> = read_all(&log, 600).iter().map(|r| r.offset).collect();
    assert_eq!(
        tail,
        (600..605).collect::<Vec<_>>(),
        "the segment sealed during the rewrite survives"
    );
}

#[test]
fn a_lost_checkpoint_after_compaction_keeps_segment_ends_and_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(FsyncPolicy::Never));
    for b in 0..3 {
        log.append(&batch(b, 10, 10)).unwrap();
        log.roll().unwrap();
    }
    // Drop the last records of every segment: each compacted segment ends in a gap.
    log.rewrite_sealed(|offset, _| offset % 10 < 5).unwrap();
    let hw = log.high_watermark();
    drop(log);
    std::fs::remove_file(dir.path().join("checkpoint")).unwrap();
    let log = open(dir.path(), small_config(FsyncPolicy::Never));
    assert_eq!(log.high_watermark(), hw);
    assert_eq!(
        log.append(&batch(9, 1, 10)).unwrap().base_offset,
        hw,
        "no offset is reused"
    );
    drop(log);
    let log = open(dir.path(), small_config(FsyncPolicy::Never));
    assert!(
        !log.recovery_report().checkpoint_rebuilt,
        "the rebuilt checkpoint is valid"
    );
    let kept: Vec<u64> = read_all(&log, 0).iter().map(|r| r.offset).collect();
    let mut expected: Vec<u64> = (0..30).filter(|o| o % 10 < 5).collect();
    expected.push(30);
    assert_eq!(kept, expected);
}
