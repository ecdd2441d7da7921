//! A segment that left the log is never opened again by its path, even after the
//! open-segment cap unloaded it: the path may name a replacement by then.

use std::io;

use bytes::Bytes;

use crate::storage::{FsyncPolicy, Log, LogConfig, LogIdent, OpenSegments, ReadLimits, Record};

fn record(value: &str) -> Record {
    Record {
        key: Some(Bytes::from_static(b"k")),
        value: Some(Bytes::copy_from_slice(value.as_bytes())),
        headers: Vec::new(),
        timestamp_ms: 1,
    }
}

#[test]
fn an_unloaded_segment_replaced_by_compaction_is_not_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let budget = OpenSegments::new(1);
    let config = LogConfig {
        segment_bytes: 1 << 20,
        fsync: FsyncPolicy::Never,
        open_segments: budget.clone(),
        ..LogConfig::default()
    };
    let log = Log::open(dir.path(), LogIdent::new("t", 0), config).unwrap();
    for value in ["a", "b", "c"] {
        log.append(&[record(value)]).unwrap();
        log.roll().unwrap();
    }
    // A reader's snapshot of the first segment, unloaded by the cap of one.
    let stale = log.segment_list()[0].clone();
    stale.data().unwrap();
    log.segment_list()[1].data().unwrap();
    assert_eq!(budget.open(), 1);
    assert!(budget.evictions() >= 1);

    // Compaction replaces the first segment's file with one that lacks offset 0.
    log.rewrite_sealed(|offset, _| offset != 0).unwrap();
    assert!(stale.is_retired());
    let error = stale.data().map(drop).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::NotFound);
    assert!(error.to_string().contains("replaced or deleted"), "{error}");
    assert_eq!(
        stale.index().map(drop).unwrap_err().kind(),
        io::ErrorKind::NotFound
    );

    // Readers of the log see the new segments.
    let got = log.read(0, ReadLimits::default()).unwrap();
    let values: Vec<_> = got
        .records
        .iter()
        .map(|r| (r.offset, r.value.clone().unwrap()))
        .collect();
    assert_eq!(
        values,
        vec![(1, Bytes::from_static(b"b")), (2, Bytes::from_static(b"c"))]
    );
}
