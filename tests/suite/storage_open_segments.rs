//! The cap on loaded sealed segments: thousands of segments are read with a small cap,
//! the cap holds (counted by the budget and, independently, in the process's map
//! table), and every record comes back intact — also while readers race evictions.

use crate::storage_support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use eventlog::storage::{FsyncPolicy, Log, LogConfig, OpenSegments, ReadLimits, Record};
use storage_support::{assert_same, open, record, small_config};

/// Records per segment: each segment holds one batch of this many records.
const PER_SEGMENT: u64 = 3;

fn config(budget: &OpenSegments) -> LogConfig {
    LogConfig {
        open_segments: budget.clone(),
        ..small_config(FsyncPolicy::Never)
    }
}

fn segment_batch(segment: u64) -> Vec<Record> {
    (0..PER_SEGMENT).map(|i| record(segment, i, 40)).collect()
}

/// Writes `segments` sealed segments of one batch each.
fn fill(log: &Log, segments: u64) {
    for segment in 0..segments {
        let info = log.append(&segment_batch(segment)).unwrap();
        assert_eq!(info.base_offset, segment * PER_SEGMENT);
        log.roll().unwrap();
    }
}

/// Reads segment `segment`'s records and checks each against what was appended.
fn check_segment(log: &Log, segment: u64) {
    let got = log
        .read(
            segment * PER_SEGMENT,
            ReadLimits {
                max_records: PER_SEGMENT as usize,
                max_bytes: 1 << 20,
            },
        )
        .unwrap();
    assert_eq!(got.records.len() as u64, PER_SEGMENT, "segment {segment}");
    for (i, (stored, appended)) in got.records.iter().zip(segment_batch(segment)).enumerate() {
        assert_eq!(stored.offset, segment * PER_SEGMENT + i as u64);
        assert_same(stored, &appended);
    }
}

/// A small deterministic generator, so a failing order can be replayed.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i as u64 + 1) as usize);
        }
    }
}

/// Memory maps of segment files under `dir` in this process, read from the kernel's
/// own table: a count that does not rely on the budget's bookkeeping.
fn segment_maps_under(dir: &Path) -> usize {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let dir = dir.to_str().unwrap();
    maps.lines()
        .filter(|line| line.contains(dir) && line.trim_end().ends_with(".log"))
        .count()
}

/// Open file descriptors of this process on files under `dir`.
fn fds_under(dir: &Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.starts_with(dir))
        .count()
}

#[test]
fn thousands_of_segments_read_in_random_order_under_a_small_cap() {
    const SEGMENTS: u64 = 2000;
    const CAP: usize = 16;
    let dir = tempfile::tempdir().unwrap();
    let budget = OpenSegments::new(CAP);
    let log = open(dir.path(), config(&budget));
    fill(&log, SEGMENTS);
    assert_eq!(log.stats().segment_count as u64, SEGMENTS + 1);
    assert!(budget.open() <= CAP, "{} open after writing", budget.open());

    // Reopened, every sealed segment starts unloaded.
    drop(log);
    let budget = OpenSegments::new(CAP);
    let log = open(dir.path(), config(&budget));
    assert_eq!(budget.open(), 0);

    let mut order: Vec<u64> = (0..SEGMENTS).collect();
    XorShift(0x9e37_79b9_7f4a_7c15).shuffle(&mut order);
    for (n, segment) in order.iter().enumerate() {
        check_segment(&log, *segment);
        assert!(
            budget.open() <= CAP,
            "{} open after {n} reads",
            budget.open()
        );
        if n % 97 == 0 {
            // The active segment is mapped too, and reads hold no map once they return.
            let maps = segment_maps_under(dir.path());
            assert!(maps <= CAP + 1, "{maps} segment maps after {n} reads");
        }
    }
    assert_eq!(budget.open(), CAP, "the cap is used, not exceeded");
    assert_eq!(budget.peak(), CAP);
    assert!(
        budget.evictions() >= SEGMENTS - CAP as u64,
        "{} evictions",
        budget.evictions()
    );
    // Sealed segments hold no file descriptor: only the active segment's file is open.
    assert_eq!(fds_under(dir.path()), 1);
}

#[test]
fn readers_racing_evictions_read_intact_records() {
    const SEGMENTS: u64 = 300;
    const CAP: usize = 4;
    let dir = tempfile::tempdir().unwrap();
    let budget = OpenSegments::new(CAP);
    let log = Arc::new(open(dir.path(), config(&budget)));
    fill(&log, SEGMENTS);
    let writing = Arc::new(AtomicBool::new(true));
    let writer = {
        let (log, writing) = (log.clone(), writing.clone());
        // Rolls seal (and so admit) more segments while the readers evict each other's.
        std::thread::spawn(move || {
            for segment in SEGMENTS..SEGMENTS + 100 {
                log.append(&segment_batch(segment)).unwrap();
                log.roll().unwrap();
            }
            writing.store(false, Ordering::Release);
        })
    };
    let readers: Vec<_> = (0..4u64)
        .map(|seed| {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut rng = XorShift(seed * 7919 + 1);
                for _ in 0..1500 {
                    check_segment(&log, rng.below(SEGMENTS));
                }
            })
        })
        .collect();
    for reader in readers {
        reader.join().expect("reader");
    }
    writer.join().expect("writer");
    assert!(!writing.load(Ordering::Acquire));
    for segment in 0..SEGMENTS + 100 {
        check_segment(&log, segment);
    }
    assert!(budget.peak() <= CAP, "peak {}", budget.peak());
    assert!(budget.open() <= CAP);
    assert!(budget.evictions() > 0);
}
