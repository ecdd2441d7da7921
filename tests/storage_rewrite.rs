//! Rewriting sealed segments (the compaction hook): kept records keep their offsets
//! and bytes, removed ones leave gaps, readers inside old segments are undisturbed,
//! and the result survives a reopen.

mod storage_support;

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
