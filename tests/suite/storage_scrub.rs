//! Scrubbing sealed segments after an open finds damage the checkpoint-trusting open did
//! not read, with its position, and readers then step over it with the resume offset.

use crate::storage_support;

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;

use eventlog::storage::scrub::{report_damage, scrub_segment};
use eventlog::storage::verify::{WalkEvent, walk};
use eventlog::storage::{FsyncPolicy, ReadError, ReadLimits};
use storage_support::*;

#[test]
fn scrub_finds_a_flipped_bit_in_a_sealed_segment_and_reads_step_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(FsyncPolicy::Never));
    for b in 0..60 {
        log.append(&batch(b, 20, 2500)).unwrap();
    }
    let high_watermark = log.high_watermark();
    log.close().unwrap();
    let path = segment_path(dir.path(), 0);
    let mut batches = Vec::new();
    walk(&path, &mut |event| {
        if let WalkEvent::Batch {
            position, header, ..
        } = event
        {
            batches.push((position, header));
        }
    })
    .unwrap();
    let (position, header) = batches[batches.len() / 2];
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, position + 100).unwrap();
    file.write_all_at(&[byte[0] ^ 0x01], position + 100)
        .unwrap();

    let log = open(dir.path(), small_config(FsyncPolicy::Never));
    let sealed = log.sealed_segments();
    assert!(sealed.len() >= 2, "several sealed segments");
    let clean = scrub_segment(&sealed[1]).unwrap();
    assert!(clean.damage.is_empty(), "{:?}", clean.damage);
    let found = scrub_segment(&sealed[0]).unwrap();
    assert_eq!(found.damage.len(), 1, "{:?}", found.damage);
    assert_eq!(found.damage[0].position, position);
    assert_eq!(
        found.damage[0].resume_offset,
        Some(header.last_offset() + 1)
    );
    assert!(log.holds_segment(&sealed[0]));
    report_damage(log.ident(), &sealed[0], &found.damage);

    let limits = ReadLimits {
        max_records: usize::MAX,
        max_bytes: usize::MAX,
    };
    match log.read(header.base_offset, limits) {
        Err(ReadError::Corrupt {
            position: at,
            next_readable,
            ..
        }) => {
            assert_eq!(at, position);
            assert_eq!(next_readable, Some(header.last_offset() + 1));
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let rest = read_all(&log, header.last_offset() + 1);
    assert_eq!(rest.len() as u64, high_watermark - header.last_offset() - 1);
    log.close().unwrap();
}
