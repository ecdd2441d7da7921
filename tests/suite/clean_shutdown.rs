//! The clean-shutdown marker: after a clean close the next open trusts the marker
//! instead of scanning the active segment; after a crash, or when the marker does not
//! agree with the file, it scans as before. A data directory without a marker (older
//! versions, or after a crash) keeps opening.

use crate::storage_support;

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;

use eventlog::storage::FsyncPolicy;
use eventlog::storage::clean_shutdown::FILE_NAME;
use eventlog::storage::scrub::scrub_segment;
use eventlog::storage::verify::{WalkEvent, walk};
use storage_support::*;

/// A log whose active segment holds `batches` batches of ~40 KiB (no roll), closed
/// cleanly; returns its high watermark.
fn closed_log(dir: &Path, batches: u64) -> u64 {
    let log = open(dir, small_config(FsyncPolicy::Never));
    for b in 0..batches {
        log.append(&batch(b, 4, 10_000)).unwrap();
    }
    assert_eq!(
        log.segment_infos().len(),
        1,
        "everything in the active segment"
    );
    let high_watermark = log.high_watermark();
    log.close().unwrap();
    high_watermark
}

fn batch_positions(dir: &Path) -> Vec<u64> {
    let mut positions = Vec::new();
    walk(&segment_path(dir, 0), &mut |event| {
        if let WalkEvent::Batch { position, .. } = event {
            positions.push(position);
        }
    })
    .unwrap();
    positions
}

fn flip_byte(path: &Path, at: u64) {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, at).unwrap();
    file.write_all_at(&[byte[0] ^ 0x40], at).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn a_clean_restart_does_not_read_the_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let high_watermark = closed_log(dir.path(), 20);
    assert!(dir.path().join(FILE_NAME).exists());
    // Damage in the middle of the active segment, far from its last bytes: a scan
    // would find it; an open that trusts the marker never reads it.
    let positions = batch_positions(dir.path());
    flip_byte(&segment_path(dir.path(), 0), positions[3] + 200);
    let copy = tempfile::tempdir().unwrap();
    let without_marker = copy.path().join("0");
    copy_dir(dir.path(), &without_marker);
    std::fs::remove_file(without_marker.join(FILE_NAME)).unwrap();

    let log = open(dir.path(), small_config(FsyncPolicy::Never));
    assert_eq!(log.recovery_report().segments_scanned, 0);
    assert!(log.recovery_report().damage.is_empty());
    assert!(log.recovery_report().scan_skipped);
    assert_eq!(log.high_watermark(), high_watermark);
    // Nothing read the active segment at open, so the background scrub does.
    let to_scrub = log.segments_to_scrub();
    assert_eq!(to_scrub.len(), 1, "the active segment");
    let found = scrub_segment(&to_scrub[0]).unwrap();
    assert_eq!(found.damage.len(), 1, "{:?}", found.damage);
    assert_eq!(found.damage[0].position, positions[3]);

    // The same files without the marker (an older version's directory): scanned.
    let scanned = open(&without_marker, small_config(FsyncPolicy::Never));
    assert_eq!(scanned.recovery_report().segments_scanned, 1);
    assert!(!scanned.recovery_report().scan_skipped);
    assert_eq!(scanned.recovery_report().damage.len(), 1);
    assert_eq!(scanned.recovery_report().damage[0].1, positions[3]);
    assert_eq!(scanned.high_watermark(), high_watermark);
}

#[test]
fn a_clean_restart_reads_and_appends_as_after_a_scan() {
    let dir = tempfile::tempdir().unwrap();
    let high_watermark = closed_log(dir.path(), 20);
    let log = open(dir.path(), small_config(FsyncPolicy::Never));
    assert!(log.recovery_report().scan_skipped);
    // The marker is gone as soon as the log is open: a crash from now on scans.
    assert!(!dir.path().join(FILE_NAME).exists());
    let all = read_all(&log, 0);
    assert_eq!(all.len() as u64, high_watermark);
    for (i, stored) in all.iter().enumerate() {
        assert_same(stored, &record(i as u64 / 4, i as u64 % 4, 10_000));
    }
    // The index came from the marker: a read from the middle starts right there.
    assert_eq!(read_all(&log, 41)[0].offset, 41);
    let next = log.append(&batch(99, 1, 10)).unwrap();
    assert_eq!(next.base_offset, high_watermark);
    // Dropped without a close, as in a crash: the next open scans.
    drop(log);
    let log = open(dir.path(), small_config(FsyncPolicy::Never));
    assert!(!log.recovery_report().scan_skipped);
    assert_eq!(log.recovery_report().segments_scanned, 1);
    assert_eq!(log.high_watermark(), high_watermark + 1);
}

#[test]
fn a_marker_that_disagrees_with_the_file_falls_back_to_the_scan() {
    // Bytes appended past the marker's length (the file grew): scanned, tail cut.
    let dir = tempfile::tempdir().unwrap();
    let high_watermark = closed_log(dir.path(), 5);
    let path = segment_path(dir.path(), 0);
    let len = std::fs::metadata(&path).unwrap().len();
    let file = OpenOptions::new().write(true).open(&path).unwrap();
    file.write_all_at(&[0xAB; 100], len).unwrap();
    let log = open(dir.path(), small_config(FsyncPolicy::Never));
    assert!(!log.recovery_report().scan_skipped);
    assert_eq!(log.recovery_report().torn_tail_bytes, 100);
    assert_eq!(log.high_watermark(), high_watermark);

    // Same length, but the last batch changed: its CRC no longer matches.
    let dir = tempfile::tempdir().unwrap();
    closed_log(dir.path(), 5);
    let path = segment_path(dir.path(), 0);
    let len = std::fs::metadata(&path).unwrap().len();
    flip_byte(&path, len - 10);
    let log = open(dir.path(), small_config(FsyncPolicy::Never));
    assert!(!log.recovery_report().scan_skipped);
    assert_eq!(log.recovery_report().segments_scanned, 1);
    assert_eq!(log.high_watermark(), 16, "the damaged last batch is cut");

    // A damaged marker: ignored, removed, scanned.
    let dir = tempfile::tempdir().unwrap();
    let high_watermark = closed_log(dir.path(), 5);
    flip_byte(&dir.path().join(FILE_NAME), 12);
    let log = open(dir.path(), small_config(FsyncPolicy::Never));
    assert!(!log.recovery_report().scan_skipped);
    assert!(!dir.path().join(FILE_NAME).exists());
    assert_eq!(log.high_watermark(), high_watermark);
}
