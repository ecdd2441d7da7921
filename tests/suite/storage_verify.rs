//! Offline verification finds injected damage with its location, and stays quiet on
//! a healthy log; `walk` lists batches and records.

use crate::storage_support;

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;

use eventlog::storage::FsyncPolicy;
use eventlog::storage::verify::{Severity, WalkEvent, verify, walk};
use storage_support::*;

fn build(dir: &std::path::Path) -> u64 {
    let log = open(dir, small_config(FsyncPolicy::Never));
    for b in 0..40 {
        log.append(&batch(b, 20, 2500)).unwrap();
    }
    let hw = log.high_watermark();
    log.close().unwrap();
    hw
}

#[test]
fn a_healthy_log_verifies_clean() {
    let dir = tempfile::tempdir().unwrap();
    let hw = build(dir.path());
    let report = verify(dir.path()).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.records, hw);
    assert!(report.segments >= 2);
}

#[test]
fn a_flipped_bit_is_found_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let path = segment_path(dir.path(), 0);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, 200_000).unwrap();
    file.write_all_at(&[byte[0] ^ 0x80], 200_000).unwrap();
    let report = verify(dir.path()).unwrap();
    assert!(report.has_errors());
    let problem = &report.problems[0];
    assert_eq!(problem.path, path);
    let position = problem.position.unwrap();
    assert!(
        position <= 200_000 && 200_000 - position < 60_000,
        "position {position}"
    );
    assert!(problem.what.contains("corrupt batch"), "{}", problem.what);
}

#[test]
fn a_torn_tail_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let bases = segment_bases(dir.path());
    let active = segment_path(dir.path(), *bases.last().unwrap());
    let len = std::fs::metadata(&active).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&active)
        .unwrap()
        .write_all_at(&[7; 50], len)
        .unwrap();
    let report = verify(dir.path()).unwrap();
    assert!(!report.has_errors(), "{:?}", report.problems);
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert_eq!(report.problems[0].severity, Severity::Warning);
    assert_eq!(report.problems[0].position, Some(len));
}

#[test]
fn a_damaged_index_is_an_error_at_the_first_wrong_byte_and_passes_once_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let hw = build(dir.path());
    let index = index_path(dir.path(), 0);
    let clean = std::fs::read(&index).unwrap();
    assert!(clean.len() >= 16 + 3 * 16, "entries to damage");
    // (damaged bytes, byte position verify must name)
    let mut flipped = clean.clone();
    flipped[16 + 16 + 5] ^= 0x02; // the second entry's position field
    let cases = [
        (b"junk".to_vec(), 0),
        (flipped, 32),
        (
            clean[..clean.len() - 16].to_vec(),
            (clean.len() - 16) as u64,
        ),
        (clean[..clean.len() - 3].to_vec(), (clean.len() - 16) as u64),
    ];
    for (bytes, position) in cases {
        std::fs::write(&index, &bytes).unwrap();
        let report = verify(dir.path()).unwrap();
        assert!(report.has_errors(), "{:?}", report.problems);
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        assert_eq!(report.problems[0].path, index);
        assert_eq!(
            report.problems[0].position,
            Some(position),
            "{:?}",
            report.problems
        );
    }
    // Opening the log and reading rebuilds the index: no record lost, verify passes.
    let log = open(dir.path(), small_config(FsyncPolicy::Never));
    assert_eq!(read_all(&log, 0).len() as u64, hw);
    log.close().unwrap();
    let report = verify(dir.path()).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[test]
fn walk_lists_every_batch_and_record() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(FsyncPolicy::Never));
    log.append(&batch(0, 3, 10)).unwrap();
    log.append(&batch(1, 2, 10)).unwrap();
    log.close().unwrap();
    let mut seen = Vec::new();
    walk(&segment_path(dir.path(), 0), &mut |event| match event {
        WalkEvent::Batch {
            header, records, ..
        } => seen.push((header.base_offset, records.len())),
        WalkEvent::Bad { .. } => panic!("no damage expected"),
    })
    .unwrap();
    assert_eq!(seen, vec![(0, 3), (3, 2)]);
}
