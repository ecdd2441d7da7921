//! A full disk while a rewrite streams its new segments: at each write point of the
//! `.swap` files the rewrite fails with a no-space error, removes every `.swap` file it
//! wrote, and leaves every file of the log byte for byte as it was, not poisoned; the same
//! rewrite goes through once space returns.

use std::collections::BTreeMap;
use std::path::Path;

use super::fault::{self, ENOSPC};
use super::fsutil::{self, WritePoint};
use super::{FsyncPolicy, Log, LogConfig, LogIdent, MaintenanceError, Record};

/// Every file of the directory with its length and CRC.
fn files(dir: &Path) -> BTreeMap<String, (usize, u32)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let bytes = std::fs::read(e.path()).unwrap();
            (name, (bytes.len(), crc32fast::hash(&bytes)))
        })
        .collect()
}

/// A log of about 2.4 MiB in 1 MiB segments, every segment sealed.
fn filled(dir: &Path) -> Log {
    let config = LogConfig {
        segment_bytes: 1 << 20,
        fsync: FsyncPolicy::Always,
        ..LogConfig::default()
    };
    let log = Log::open(dir, LogIdent::new("t", 0), config).unwrap();
    for i in 0..40u32 {
        let record = Record {
            key: Some(format!("k{}", i % 30).into_bytes().into()),
            value: Some(vec![b'v'; 60_000].into()),
            ..Record::default()
        };
        log.append(&[record]).unwrap();
    }
    log.roll().unwrap();
    log
}

#[test]
fn a_full_disk_while_streaming_a_rewrite_leaves_the_log_as_it_was() {
    let points = [
        (WritePoint::Create, ".log.swap"),
        (WritePoint::Write, ".log.swap"),
        (WritePoint::Create, ".index.swap"),
        (WritePoint::Write, ".index.swap"),
    ];
    for (point, suffix) in points {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("p");
        let log = filled(&dir);
        let before = files(&dir);
        fault::arm(&dir, point, suffix, ENOSPC, 1);
        // Keeps the records of the last ten keys: some batches dropped, more than one
        // new segment.
        let refused = log.rewrite_sealed(|offset, _| offset % 40 >= 10);
        fault::disarm(&dir);
        assert!(
            matches!(&refused, Err(MaintenanceError::Io { source, .. }) if fsutil::is_no_space(source)),
            "{point:?} {suffix}: {refused:?}"
        );
        assert_eq!(files(&dir), before, "{point:?} {suffix}: files unchanged");
        assert_eq!(log.poisoned(), None);
        let stats = log.rewrite_sealed(|offset, _| offset % 40 >= 10).unwrap();
        assert_eq!(stats.records_removed, 10, "{point:?} {suffix}");
        assert!(!files(&dir).keys().any(|n| n.ends_with(".swap")));
    }
}
