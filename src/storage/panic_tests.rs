//! A panic while a log's writer lock is held (a defect) leaves that log read-only; it
//! never makes later calls on it panic in turn (which would end the threads making them).

use std::sync::Arc;

use crate::storage::{AppendError, Log, LogConfig, LogIdent, ReadLimits, Record};

#[test]
fn a_panic_under_the_writer_lock_makes_the_log_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Log::open(dir.path(), LogIdent::new("t", 0), LogConfig::default()).unwrap());
    log.append(&[Record::text("kept")]).unwrap();
    let holder = log.clone();
    let panicked = std::thread::spawn(move || {
        let _writer = holder.writer.lock();
        panic!("a defect while appending");
    })
    .join();
    assert!(panicked.is_err() && log.writer.is_poisoned());
    log.tick().unwrap();
    assert!(matches!(
        log.append(&[Record::text("refused")]),
        Err(AppendError::Poisoned { .. })
    ));
    assert!(log.poisoned().is_some());
    let read = log.read(0, ReadLimits::default()).unwrap();
    assert_eq!(read.records.len(), 1);
    log.close().unwrap();
}
