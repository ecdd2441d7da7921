//! Power-loss tests: concurrent appenders, rolls, retention and a compaction swap run
//! against a log; power is cut at a random moment (see `power_loss.rs`); the log is
//! reopened on what the disk would hold and checked:
//! - every acknowledged record is present, with identical bytes, at its offset;
//! - offsets are gap-free from the log start to the high watermark;
//! - nothing unacknowledged is half-visible: every record is one that was attempted,
//!   and every batch is there whole or not at all.
//!
//! Under `FsyncPolicy::Always` no acknowledged record is ever lost; under
//! `FsyncPolicy::Never` the same cut loses some, which shows the simulation bites.
//! Run with `cargo test --lib power_loss`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::power_loss::{self, Mode, Rng};
use super::{FsyncPolicy, Log, LogConfig, LogIdent, MaintenanceError, ReadLimits, Record};

const APPENDERS: u64 = 3;

/// Where an attempted record sits in its batch: (batch id, index, batch length).
type Attempt = (u64, usize, usize);

#[derive(Default)]
struct Journal {
    /// Every payload ever attempted, by payload.
    attempted: Mutex<HashMap<Vec<u8>, Attempt>>,
    /// The payloads of each attempted batch, by batch id.
    batches: Mutex<HashMap<u64, Vec<Vec<u8>>>>,
    /// Acknowledged records: (offset, payload).
    acked: Mutex<Vec<(u64, Vec<u8>)>>,
    /// Largest offset retention was asked to delete below (recorded before the call).
    retention: AtomicU64,
    /// Maintenance done: rolls, retention runs that deleted segments, rewrites.
    done: [AtomicU64; 3],
}

fn config(fsync: FsyncPolicy) -> LogConfig {
    LogConfig {
        // The smallest segment allowed; rolls come from explicit `roll` calls.
        segment_bytes: 1 << 20,
        max_batch_bytes: 64 << 10,
        index_interval_bytes: 256,
        fsync,
        ..LogConfig::default()
    }
}

fn appender(log: &Log, journal: &Journal, stop: &AtomicBool, thread: u64, seed: u64) {
    let mut rng = Rng::new(seed ^ (thread + 1).wrapping_mul(0x5851_F42D_4C95_7F2D));
    let mut n = 0u64;
    while !stop.load(Ordering::Acquire) {
        let batch_id = thread << 32 | n;
        n += 1;
        let len = rng.range(1, 3) as usize;
        let payloads: Vec<Vec<u8>> = (0..len)
            .map(|i| {
                let mut p = format!("w{thread}-b{n}-r{i}-").into_bytes();
                let filler = rng.range(0, 300) as usize;
                p.extend((0..filler).map(|j| b'a' + (j % 26) as u8));
                p
            })
            .collect();
        {
            let mut attempted = journal.attempted.lock().unwrap();
            for (i, p) in payloads.iter().enumerate() {
                attempted.insert(p.clone(), (batch_id, i, len));
            }
            journal
                .batches
                .lock()
                .unwrap()
                .insert(batch_id, payloads.clone());
        }
        let records: Vec<Record> = payloads
            .iter()
            .map(|p| Record {
                value: Some(p.clone().into()),
                ..Record::default()
            })
            .collect();
        let info = log.append(&records).expect("append");
        let mut acked = journal.acked.lock().unwrap();
        for (i, p) in payloads.into_iter().enumerate() {
            acked.push((info.base_offset + i as u64, p));
        }
    }
}

fn maintainer(log: &Log, journal: &Journal, stop: &AtomicBool, seed: u64) {
    let mut rng = Rng::new(seed.wrapping_mul(0x2545_F491_4F6C_DD1D));
    while !stop.load(Ordering::Acquire) {
        match rng.range(0, 9) {
            0..=4 => {
                log.roll().expect("roll");
                journal.done[0].fetch_add(1, Ordering::Relaxed);
            }
            5..=6 => {
                let hw = log.high_watermark();
                let below = hw.saturating_sub(rng.range(20, 200));
                journal.retention.fetch_max(below, Ordering::AcqRel);
                if log
                    .delete_segments_below(below)
                    .expect("retention")
                    .segments
                    > 0
                {
                    journal.done[1].fetch_add(1, Ordering::Relaxed);
                }
            }
            _ => match log.rewrite_sealed(|_, _| true) {
                Ok(stats) if stats.segments_before > 0 => {
                    journal.done[2].fetch_add(1, Ordering::Relaxed);
                }
                // Retention changed the segments meanwhile: a refusal, not a failure.
                Ok(_) | Err(MaintenanceError::Invalid { .. }) => {}
                Err(e) => panic!("rewrite: {e}"),
            },
        }
        // Let appenders fill the active segment between two maintenance steps.
        std::thread::sleep(Duration::from_millis(rng.range(1, 5)));
    }
}

/// What one run found after the cut.
struct Outcome {
    acked: usize,
    lost: usize,
}

/// Runs the workload, cuts power once `cut_after` records were acknowledged, reopens
/// the log on the surviving state and checks it. `quiesce` stops the workload before
/// the cut (the torn mode reads the live files, which must not change meanwhile).
fn run(fsync: FsyncPolicy, seed: u64, mode: Mode, quiesce: bool) -> Outcome {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    std::fs::create_dir(&root).unwrap();
    let _registration = power_loss::register(&root);
    let dir = root.join("topic-0");
    let log = Arc::new(Log::open(&dir, LogIdent::new("t", 0), config(fsync)).unwrap());
    let journal = Arc::new(Journal::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for t in 0..APPENDERS {
        let (log, journal, stop) = (log.clone(), journal.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            appender(&log, &journal, &stop, t, seed)
        }));
    }
    {
        let (log, journal, stop) = (log.clone(), journal.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            maintainer(&log, &journal, &stop, seed)
        }));
    }
    let cut_after = Rng::new(seed).range(20, 400) as usize;
    let deadline = Instant::now() + Duration::from_secs(60);
    // The cut falls after a random number of acknowledgements, and never before at
    // least one roll, retention run and rewrite, so every run cuts among real ones
    // whatever the scheduling.
    let maintained = || journal.done.iter().all(|d| d.load(Ordering::Relaxed) > 0);
    while journal.acked.lock().unwrap().len() < cut_after || !maintained() {
        assert!(Instant::now() < deadline, "workload made no progress");
        std::thread::sleep(Duration::from_millis(1));
    }
    if quiesce {
        stop.store(true, Ordering::Release);
        for t in threads.drain(..) {
            t.join().expect("worker");
        }
    }
    // Read before the cut: whatever was acknowledged by now was synced before it.
    let acked = journal.acked.lock().unwrap().clone();
    let after = tempfile::tempdir().unwrap();
    power_loss::power_loss(&root, mode, after.path());
    // Read after the cut: a retention that reached the disk recorded its point before.
    let retention = journal.retention.load(Ordering::Acquire);
    stop.store(true, Ordering::Release);
    for t in threads {
        t.join().expect("worker");
    }
    drop(log);
    let what = format!("{fsync:?} seed {seed} {mode:?}");
    let dir = after.path().join("topic-0");
    check(&dir, fsync, &journal, &acked, retention, &what)
}

fn check(
    dir: &Path,
    fsync: FsyncPolicy,
    journal: &Journal,
    acked: &[(u64, Vec<u8>)],
    retention: u64,
    what: &str,
) -> Outcome {
    let log = Log::open(dir, LogIdent::new("t", 0), config(fsync))
        .unwrap_or_else(|e| panic!("{what}: reopening after the cut failed: {e}"));
    let start = log.log_start_offset();
    let hw = log.high_watermark();
    assert!(
        start <= retention,
        "{what}: log start {start} is past every retention point (largest {retention})"
    );
    let mut found: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut at = start;
    while at < hw {
        let read = log
            .read(at, ReadLimits::default())
            .unwrap_or_else(|e| panic!("{what}: read at {at} failed: {e}"));
        assert!(
            !read.records.is_empty(),
            "{what}: empty read at {at} < {hw}"
        );
        for r in read.records {
            found.push((r.offset, r.value.expect("value").to_vec()));
        }
        at = found.last().expect("records").0 + 1;
    }
    // Gap-free from the log start.
    for (i, (offset, _)) in found.iter().enumerate() {
        assert_eq!(*offset, start + i as u64, "{what}: offsets have a gap");
    }
    let by_offset: HashMap<u64, &Vec<u8>> = found.iter().map(|(o, p)| (*o, p)).collect();
    // Nothing half-visible: each record was attempted, and its whole batch is there
    // (within the readable range) at consecutive offsets.
    let attempted = journal.attempted.lock().unwrap();
    let batches = journal.batches.lock().unwrap();
    for (offset, payload) in &found {
        let (batch, index, len) = *attempted
            .get(payload)
            .unwrap_or_else(|| panic!("{what}: offset {offset} holds a record never appended"));
        let first = offset - index as u64;
        for (j, expected) in batches[&batch].iter().enumerate().take(len) {
            let o = first + j as u64;
            if o >= start {
                assert_eq!(
                    by_offset.get(&o).copied(),
                    Some(expected),
                    "{what}: batch {batch} is only partly visible (offset {o})"
                );
            }
        }
    }
    let lost = acked
        .iter()
        .filter(|(offset, payload)| *offset >= start && by_offset.get(offset) != Some(&payload))
        .count();
    Outcome {
        acked: acked.len(),
        lost,
    }
}

#[test]
fn always_keeps_every_acknowledged_record_when_power_is_cut_mid_operation() {
    for seed in 1..=6 {
        let outcome = run(FsyncPolicy::Always, seed, Mode::Pessimistic, false);
        assert!(outcome.acked > 0);
        assert_eq!(outcome.lost, 0, "seed {seed}: acknowledged records lost");
    }
}

#[test]
fn always_keeps_every_acknowledged_record_with_torn_unsynced_writes() {
    for seed in 11..=14 {
        // Quiesced: the torn mode reads the live files, which must not move meanwhile.
        let outcome = run(FsyncPolicy::Always, seed, Mode::Torn { seed }, true);
        assert_eq!(outcome.lost, 0, "seed {seed}: acknowledged records lost");
    }
}

#[test]
fn never_loses_acknowledged_records_under_the_same_cut() {
    let mut lost = 0;
    for seed in 21..=24 {
        let outcome = run(FsyncPolicy::Never, seed, Mode::Pessimistic, false);
        lost += outcome.lost;
    }
    assert!(
        lost > 0,
        "without fsync some acknowledged records must be lost"
    );
}

#[test]
fn never_keeps_a_whole_prefix_when_unsynced_writes_are_torn() {
    // Records may be lost, but what survives is still gap-free with whole batches
    // (checked inside `run`), whatever prefix of the unsynced bytes reached the disk.
    for seed in 31..=34 {
        run(FsyncPolicy::Never, seed, Mode::Torn { seed }, true);
    }
}

#[test]
fn never_loses_the_unsynced_tail_deterministically() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    std::fs::create_dir(&root).unwrap();
    let _registration = power_loss::register(&root);
    let dir = root.join("p");
    let log = Log::open(&dir, LogIdent::new("t", 0), config(FsyncPolicy::Never)).unwrap();
    let record = |v: &str| Record {
        value: Some(v.to_string().into()),
        ..Record::default()
    };
    log.append(&[record("sealed")]).unwrap();
    log.roll().unwrap();
    log.append(&[record("acknowledged, never synced")]).unwrap();
    let after = tempfile::tempdir().unwrap();
    power_loss::power_loss(&root, Mode::Pessimistic, after.path());
    drop(log);
    let log = Log::open(
        &after.path().join("p"),
        LogIdent::new("t", 0),
        config(FsyncPolicy::Never),
    )
    .unwrap();
    // The sealed segment was synced by the roll; the later record was not.
    assert_eq!(log.high_watermark(), 1);
    let read = log.read(0, ReadLimits::default()).unwrap();
    assert_eq!(read.records[0].value.as_deref(), Some(&b"sealed"[..]));
}

#[test]
fn a_new_log_directory_survives_a_cut_once_a_record_is_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    std::fs::create_dir(&root).unwrap();
    let _registration = power_loss::register(&root);
    // Two levels that do not exist yet, as a topic's partition directory.
    let dir = root.join("topics").join("t").join("0");
    let log = Log::open(&dir, LogIdent::new("t", 0), config(FsyncPolicy::Always)).unwrap();
    log.append(&[Record {
        value: Some("kept".into()),
        ..Record::default()
    }])
    .unwrap();
    let after = tempfile::tempdir().unwrap();
    power_loss::power_loss(&root, Mode::Pessimistic, after.path());
    let log = Log::open(
        &after.path().join("topics/t/0"),
        LogIdent::new("t", 0),
        config(FsyncPolicy::Always),
    )
    .unwrap();
    assert_eq!(log.high_watermark(), 1);
}

#[test]
fn the_simulator_forgets_unsynced_renames_and_keeps_synced_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    std::fs::create_dir(&root).unwrap();
    let _registration = power_loss::register(&root);
    let a = root.join("a");
    std::fs::write(&a, b"first").unwrap();
    let file = std::fs::OpenOptions::new().append(true).open(&a).unwrap();
    super::fsutil::sync_data(&file, &a).unwrap();
    super::fsutil::sync_dir(&root).unwrap();
    std::fs::write(root.join("b"), b"never synced").unwrap();
    use std::io::Write;
    (&file).write_all(b" second").unwrap();
    std::fs::rename(&a, root.join("c")).unwrap();
    let after = tempfile::tempdir().unwrap();
    power_loss::power_loss(&root, Mode::Pessimistic, after.path());
    assert_eq!(std::fs::read(after.path().join("a")).unwrap(), b"first");
    assert!(!after.path().join("b").exists());
    assert!(!after.path().join("c").exists());
}
