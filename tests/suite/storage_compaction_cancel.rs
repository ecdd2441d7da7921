//! A cancelled compaction removes the `.swap` files it wrote and leaves every file of
//! the log byte for byte as it was, wherever it is cancelled: while mapping keys, in the
//! first rewritten segment, or after the rewrite rolled to a second one.

use crate::storage_support;

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use eventlog::storage::{CompactionConfig, FsyncPolicy, Log, MaintenanceError, Record};
use storage_support::*;

/// Every file of the directory with its length and CRC.
fn files(dir: &Path) -> BTreeMap<String, (usize, u32)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| {
            let bytes = std::fs::read(e.path()).unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            (name, (bytes.len(), crc32fast::hash(&bytes)))
        })
        .collect()
}

fn swap_files(dir: &Path, suffix: &str) -> usize {
    files(dir).keys().filter(|n| n.ends_with(suffix)).count()
}

/// About 3.5 MiB in 1 MiB segments: mostly distinct keys (kept, so the rewrite fills
/// more than one new segment) and some overwritten ones (so batches are re-encoded).
fn filled_log(dir: &Path) -> Log {
    let log = open(dir, small_config(FsyncPolicy::Never));
    for batch in 0..36u64 {
        let records: Vec<Record> = (0..10u64)
            .map(|i| Record {
                key: Some(Bytes::from(if i < 2 {
                    format!("shared-{i}")
                } else {
                    format!("key-{batch}-{i}")
                })),
                value: Some(Bytes::from(vec![b'v'; 10 << 10])),
                headers: vec![],
                timestamp_ms: 1_000 + batch as i64,
            })
            .collect();
        log.append(&records).unwrap();
    }
    log.roll().unwrap();
    log
}

#[test]
fn a_cancelled_compaction_leaves_the_log_exactly_as_it_was() {
    type When = fn(&Path) -> bool;
    let cases: [(&str, When); 3] = [
        ("while mapping keys", |_| true),
        ("in the first new segment", |d| {
            swap_files(d, ".log.swap") >= 1
        }),
        ("after a roll to a second", |d| {
            swap_files(d, ".log.swap") >= 2
        }),
    ];
    for (case, when) in cases {
        let dir = tempfile::tempdir().unwrap();
        let log = filled_log(dir.path());
        assert!(log.stats().segment_count >= 4, "{case}: segments sealed");
        let before = files(dir.path());
        let records = read_all(&log, 0);

        let saw_swap = std::cell::Cell::new(0);
        let cancel = || {
            saw_swap.set(saw_swap.get().max(swap_files(dir.path(), ".log.swap")));
            when(dir.path())
        };
        let outcome = log.compact_cancellable(CompactionConfig::default(), &cancel);
        assert!(
            matches!(outcome, Err(MaintenanceError::Cancelled { .. })),
            "{case}: {outcome:?}"
        );
        assert_eq!(
            files(dir.path()),
            before,
            "{case}: files unchanged, no swap file left"
        );
        assert_eq!(read_all(&log, 0), records, "{case}: records unchanged");
        if case.starts_with("after") {
            assert!(saw_swap.get() >= 2, "{case}: the rewrite had rolled");
        }

        // Not cancelled, the same compaction goes through and removes the old values.
        let stats = log.compact(CompactionConfig::default()).unwrap();
        assert_eq!(stats.records_removed, 2 * 35, "{case}");
        drop(log);
        let log = open(dir.path(), small_config(FsyncPolicy::Never));
        assert_eq!(read_all(&log, 0).len(), records.len() - 70, "{case}");
    }
}
