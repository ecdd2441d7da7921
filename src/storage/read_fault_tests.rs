//! A disk read error in a sealed segment (injected through the read faults of
//! `fault.rs`): the scrub and `verify` report the segment and go on with the others
//! instead of dying on a mapped page.

use super::fault::{self, EIO};
use super::scrub::{ScrubError, scrub_segment};
use super::verify::{Severity, verify};
use super::{FsyncPolicy, Log, LogConfig, LogIdent, Record};

fn log_with_sealed_segments(dir: &std::path::Path) -> Log {
    let config = LogConfig {
        segment_bytes: 1 << 20,
        fsync: FsyncPolicy::Never,
        ..LogConfig::default()
    };
    let log = Log::open(dir, LogIdent::new("t", 0), config).unwrap();
    for _ in 0..60 {
        let value = vec![7u8; 50_000];
        log.append(&[Record {
            value: Some(value.into()),
            ..Record::default()
        }])
        .unwrap();
    }
    log
}

#[test]
fn the_scrub_reports_an_unreadable_segment_and_checks_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with_sealed_segments(dir.path());
    let sealed = log.sealed_segments();
    assert!(sealed.len() >= 2, "two sealed segments");
    let first = sealed[0].path.file_name().unwrap().to_string_lossy();
    fault::arm_read(dir.path(), &first, EIO);
    let failed = scrub_segment(&sealed[0]);
    let next = scrub_segment(&sealed[1]);
    fault::disarm_reads(dir.path());
    match failed {
        Err(ScrubError::Read(error)) => {
            assert_eq!(error.path, sealed[0].path);
            assert_eq!(error.source.raw_os_error(), Some(EIO));
            assert!(!ScrubError::Read(error).is_not_found());
        }
        other => panic!("expected a read error, got {other:?}"),
    }
    let next = next.unwrap();
    assert!(next.damage.is_empty(), "{:?}", next.damage);
    assert_eq!(next.bytes, sealed[1].end());
}

#[test]
fn verify_reports_an_unreadable_segment_and_checks_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with_sealed_segments(dir.path());
    let sealed = log.sealed_segments();
    log.close().unwrap();
    let first = sealed[0].path.file_name().unwrap().to_string_lossy();
    fault::arm_read(dir.path(), &first, EIO);
    let report = verify(dir.path());
    fault::disarm_reads(dir.path());
    let report = report.unwrap();
    let errors: Vec<_> = report
        .problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{:?}", report.problems);
    assert_eq!(errors[0].path, sealed[0].path);
    assert!(errors[0].what.contains("unreadable"), "{}", errors[0].what);
    // Every other segment was still read and its batches counted.
    assert_eq!(report.segments, sealed.len() + 1);
    assert!(report.batches > 0);
}
