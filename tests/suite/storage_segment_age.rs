//! `segment_max_age` counts across restarts: a partition restarted more often than
//! its max age still rolls, and a producer's old timestamp does not age a segment
//! beyond its file's creation.

use crate::storage_support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use eventlog::storage::{FsyncPolicy, LogConfig, Record};
use storage_support::*;

fn aging(max_age: Duration) -> LogConfig {
    LogConfig {
        segment_max_age: Some(max_age),
        ..small_config(FsyncPolicy::Always)
    }
}

fn stamped(timestamp_ms: i64) -> Record {
    Record {
        value: Some(b"v".to_vec().into()),
        timestamp_ms,
        ..Record::default()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn a_segment_older_than_its_max_age_rolls_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let max_age = Duration::from_millis(1500);
    let log = open(dir.path(), aging(max_age));
    log.append(&[stamped(now_ms())]).unwrap();
    log.close().unwrap();
    drop(log);
    // Restarts more often than the max age, the segment idle all along.
    for _ in 0..3 {
        std::thread::sleep(max_age / 2);
        let log = open(dir.path(), aging(max_age));
        log.tick().unwrap();
        log.close().unwrap();
    }
    let log = open(dir.path(), aging(max_age));
    log.tick().unwrap();
    let segments = log.segment_infos();
    assert_eq!(segments.len(), 2, "{segments:?}");
    assert!(segments[0].sealed && segments[0].next_offset == 1);
}

#[test]
fn an_old_producer_timestamp_does_not_age_a_new_segment() {
    let dir = tempfile::tempdir().unwrap();
    let config = aging(Duration::from_secs(3600));
    let log = open(dir.path(), config.clone());
    log.append(&[stamped(0)]).unwrap();
    drop(log);
    let log = open(dir.path(), config);
    log.tick().unwrap();
    log.append(&[stamped(0)]).unwrap();
    assert_eq!(
        log.segment_infos().len(),
        1,
        "rolled on a producer's timestamp"
    );
}
