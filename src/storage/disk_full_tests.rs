//! A full disk at each write point of an append: the append fails with
//! [`AppendError::NoSpace`] naming the file, the log does not advance, nothing of the
//! batch is visible, the log is not poisoned, reads keep working, and the next append
//! after space returns succeeds — also after a reopen. Faults are injected through
//! `fault.rs` at the same `fsutil` calls a real `ENOSPC`/`EDQUOT` would fail.

use std::path::{Path, PathBuf};

use super::fault::{self, EDQUOT, ENOSPC};
use super::fsutil::{self, WritePoint};
use super::{AppendError, FsyncPolicy, Log, LogConfig, LogIdent, ReadLimits, Record};

fn config(fsync: FsyncPolicy) -> LogConfig {
    LogConfig {
        segment_bytes: 1 << 20,
        max_batch_bytes: 64 << 10,
        fsync,
        ..LogConfig::default()
    }
}

fn record(value: &[u8]) -> Record {
    Record {
        value: Some(value.to_vec().into()),
        ..Record::default()
    }
}

fn values(log: &Log) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = log.log_start_offset();
    while at < log.high_watermark() {
        let read = log.read(at, ReadLimits::default()).expect("read");
        for r in read.records {
            at = r.offset + 1;
            out.push(r.value.expect("value").to_vec());
        }
    }
    out
}

/// Appends `n` records of about 60 KiB each, so `n = 18` passes the 1 MiB roll point.
fn fill(log: &Log, n: usize, written: &mut Vec<Vec<u8>>) {
    for i in 0..n {
        let value = vec![b'a' + (written.len() % 26) as u8; 60_000 + i];
        log.append(&[record(&value)]).expect("fill");
        written.push(value);
    }
}

/// Arms one fault, runs `attempt`, and checks everything the issue asks of a full disk.
fn full_disk_at(
    fsync: FsyncPolicy,
    point: WritePoint,
    errno: i32,
    // Records written before the fault, and the name suffix of the failing file.
    prepare: impl Fn(&Log, &mut Vec<Vec<u8>>) -> String,
    attempt: impl Fn(&Log) -> Result<(), AppendError>,
) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let log = Log::open(&dir, LogIdent::new("t", 3), config(fsync)).unwrap();
    let mut written = Vec::new();
    let suffix = prepare(&log, &mut written);
    let hw = log.high_watermark();
    fault::arm(&dir, point, &suffix, errno, u32::MAX);

    let failed = attempt(&log);
    let path: PathBuf = match &failed {
        Err(AppendError::NoSpace { log: ident, path }) => {
            assert_eq!(ident, &LogIdent::new("t", 3));
            path.clone()
        }
        other => panic!("{point:?} {suffix}: expected NoSpace, got {other:?}"),
    };
    let message = failed.unwrap_err().to_string();
    assert!(message.contains("t/3"), "{message}");
    // A temporary file is reported by the name it was being written for.
    let named = suffix.trim_end_matches(".tmp");
    assert!(
        path.to_string_lossy().ends_with(named),
        "{message} should name the file ending in {named}"
    );
    // Nothing advanced, nothing half-visible, not poisoned, reads work; and still full.
    assert_eq!(log.high_watermark(), hw);
    assert!(log.poisoned().is_none());
    assert_eq!(values(&log), written);
    assert!(matches!(attempt(&log), Err(AppendError::NoSpace { .. })));
    assert_eq!(log.high_watermark(), hw);

    fault::disarm(&dir);
    let next = log
        .append(&[record(b"space is back")])
        .expect("append after space returns");
    assert_eq!(next.base_offset, hw, "the failed appends took no offsets");
    written.push(b"space is back".to_vec());
    assert_eq!(values(&log), written);
    // A roll works again too, and everything survives a reopen without damage.
    log.roll().expect("roll after space returns");
    log.append(&[record(b"after the roll")]).unwrap();
    written.push(b"after the roll".to_vec());
    log.close().unwrap();
    drop(log);
    let log = Log::open(&dir, LogIdent::new("t", 3), config(fsync)).unwrap();
    assert!(
        log.recovery_report().damage.is_empty(),
        "{:?}",
        log.recovery_report()
    );
    assert_eq!(values(&log), written);
}

fn segment_name(base: u64) -> String {
    fsutil::segment_file_name(base)
}

fn append_one(log: &Log) -> Result<(), AppendError> {
    log.append(&[record(b"refused"), record(b"refused too")])
        .map(|_| ())
}

#[test]
fn pwrite_into_the_active_segment() {
    for (fsync, errno) in [
        (FsyncPolicy::Always, ENOSPC),
        (FsyncPolicy::Never, ENOSPC),
        (FsyncPolicy::Always, EDQUOT),
    ] {
        full_disk_at(
            fsync,
            WritePoint::Write,
            errno,
            |log, written| {
                fill(log, 2, written);
                segment_name(0)
            },
            append_one,
        );
    }
}

#[test]
fn creating_the_next_segment_when_an_append_rolls() {
    full_disk_at(
        FsyncPolicy::Always,
        WritePoint::Write,
        ENOSPC,
        |log, written| {
            fill(log, 18, written);
            segment_name(18)
        },
        append_one,
    );
}

#[test]
fn writing_the_index_of_the_sealed_segment() {
    full_disk_at(
        FsyncPolicy::Always,
        WritePoint::Write,
        ENOSPC,
        |log, written| {
            fill(log, 18, written);
            fsutil::index_file_name(0)
        },
        append_one,
    );
}

#[test]
fn storing_the_checkpoint_at_a_roll() {
    full_disk_at(
        FsyncPolicy::Never,
        WritePoint::Write,
        ENOSPC,
        |log, written| {
            fill(log, 3, written);
            "checkpoint.tmp".into()
        },
        |log| log.roll(),
    );
}

#[test]
fn creating_the_checkpoint_file_itself() {
    full_disk_at(
        FsyncPolicy::Always,
        WritePoint::Create,
        ENOSPC,
        |log, written| {
            fill(log, 18, written);
            "checkpoint.tmp".into()
        },
        append_one,
    );
}

#[test]
fn growing_the_active_file() {
    // A segment larger than one growth step, so the active file must be extended.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let config = LogConfig {
        segment_bytes: 32 << 20,
        max_batch_bytes: 1 << 20,
        fsync: FsyncPolicy::Never,
        ..LogConfig::default()
    };
    let log = Log::open(&dir, LogIdent::new("t", 0), config).unwrap();
    let big = vec![7u8; 1_000_000];
    let mut appended = 0u64;
    // Fill the first step (8 MiB) to just below its end.
    while (appended + 2) * 1_000_100 < super::segment::GROW_STEP {
        log.append(&[record(&big)]).unwrap();
        appended += 1;
    }
    fault::arm(&dir, WritePoint::Extend, &segment_name(0), ENOSPC, u32::MAX);
    let mut refused = false;
    for _ in 0..3 {
        match log.append(&[record(&big)]) {
            Ok(_) => appended += 1,
            Err(AppendError::NoSpace { path, .. }) => {
                assert!(path.ends_with(segment_name(0)));
                refused = true;
                break;
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    assert!(
        refused,
        "the append that needs a larger file must be refused"
    );
    assert_eq!(log.high_watermark(), appended);
    assert!(log.poisoned().is_none());
    fault::disarm(&dir);
    log.append(&[record(&big)])
        .expect("append after space returns");
    assert_eq!(log.high_watermark(), appended + 1);
    assert!(values(&log).iter().all(|v| *v == big));
}

#[test]
fn a_failed_fsync_still_poisons_where_a_full_disk_does_not() {
    // The contrast, on purpose: after ENOSPC from pwrite the log knows exactly what is on
    // disk (the batch was not written); after a failed fdatasync it does not.
    let tmp = tempfile::tempdir().unwrap();
    let dir: &Path = tmp.path();
    let log = Log::open(dir, LogIdent::new("t", 0), config(FsyncPolicy::Always)).unwrap();
    fault::arm(dir, WritePoint::Write, &segment_name(0), ENOSPC, 1);
    assert!(log.append(&[record(b"x")]).is_err());
    assert!(log.poisoned().is_none());
    log.fail_next_sync
        .store(true, std::sync::atomic::Ordering::Release);
    assert!(matches!(
        log.append(&[record(b"y")]),
        Err(AppendError::Poisoned { .. })
    ));
    assert!(log.poisoned().is_some());
}

#[test]
fn opening_on_a_full_disk_does_not_need_to_store_derived_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let open = || Log::open(&dir, LogIdent::new("t", 0), config(FsyncPolicy::Always));
    let log = open().unwrap();
    let mut written = Vec::new();
    fill(&log, 2, &mut written);
    log.roll().unwrap();
    fill(&log, 2, &mut written);
    drop(log);
    // A lost checkpoint: opening rebuilds it and the sealed segment's index, and would
    // store both, but the disk is full.
    std::fs::remove_file(dir.join("checkpoint")).unwrap();
    std::fs::remove_file(dir.join(fsutil::index_file_name(0))).unwrap();
    fault::arm(&dir, WritePoint::Create, "checkpoint.tmp", ENOSPC, u32::MAX);
    fault::arm(&dir, WritePoint::Create, ".index", ENOSPC, u32::MAX);
    let log = open().expect("open on a full disk");
    assert!(log.recovery_report().checkpoint_rebuilt);
    assert_eq!(values(&log), written);
    assert!(!dir.join("checkpoint").exists());
    fault::disarm(&dir);
    // The next roll stores the checkpoint the writer holds.
    log.append(&[record(b"later")]).unwrap();
    written.push(b"later".to_vec());
    log.roll().unwrap();
    drop(log);
    let log = open().unwrap();
    assert!(!log.recovery_report().checkpoint_rebuilt);
    assert_eq!(values(&log), written);
}

#[test]
fn a_segment_swap_refused_before_its_intent_is_stored_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let log = Log::open(&dir, LogIdent::new("t", 0), config(FsyncPolicy::Always)).unwrap();
    let mut written = Vec::new();
    fill(&log, 40, &mut written);
    log.roll().unwrap();
    // The intent is stored as `swap.tmp`, then renamed: fail creating it.
    fault::arm(&dir, WritePoint::Create, "swap.tmp", ENOSPC, 1);
    let refused = log.rewrite_sealed(|_, _| true).unwrap_err();
    assert!(
        matches!(&refused, super::MaintenanceError::Io { source, .. } if fsutil::is_no_space(source)),
        "{refused:?}"
    );
    fault::disarm(&dir);
    // Nothing changed: still writable, every segment still readable, and the same
    // rewrite goes through once space returns.
    assert_eq!(log.poisoned(), None);
    assert_eq!(values(&log), written);
    fill(&log, 1, &mut written);
    log.rewrite_sealed(|_, _| true)
        .expect("rewrite after space returns");
    assert_eq!(values(&log), written);
}
