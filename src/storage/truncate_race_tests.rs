//! `truncate_to` racing a group commit: a leader still in its `fdatasync` when the
//! tail is cut must not publish its stale snapshot afterwards.

use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use crate::storage::{AppendError, Log, LogConfig, LogIdent, Record};

#[test]
fn a_leader_syncing_across_a_truncation_does_not_raise_the_high_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig::small();
    let log = Arc::new(Log::open(dir.path(), LogIdent::new("t", 0), config).unwrap());
    for i in 0..5 {
        log.append(&[Record::text(&format!("r{i}"))]).unwrap();
    }
    // The next append becomes the group-commit leader and parks inside its fdatasync.
    let (entered, in_sync) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    *log.before_sync.lock().unwrap() = Some(Box::new(move || {
        entered.send(()).unwrap();
        let _ = released.recv();
    }));
    let leader = {
        let log = log.clone();
        std::thread::spawn(move || log.append(&[Record::text("in flight")]))
    };
    in_sync
        .recv_timeout(Duration::from_secs(30))
        .expect("the leader reaches its fdatasync");
    // Rolling syncs the segment itself, so the truncation finds everything durable and
    // need not wait for the parked leader.
    log.roll().unwrap();
    log.truncate_to(3).unwrap();
    assert_eq!(log.high_watermark(), 3);
    release.send(()).unwrap();
    // Its batch was durable (the roll synced it) before the cut: acknowledged.
    assert_eq!(leader.join().unwrap().unwrap().base_offset, 5);
    assert_eq!(
        log.high_watermark(),
        3,
        "the stale leader published above the cut"
    );
    // An append after the cut still waits for its own fdatasync.
    log.fail_next_sync.store(true, Ordering::Release);
    let after = log.append(&[Record::text("after the cut")]);
    assert!(
        matches!(after, Err(AppendError::Poisoned { .. })),
        "acknowledged without an fdatasync: {after:?}"
    );
}
