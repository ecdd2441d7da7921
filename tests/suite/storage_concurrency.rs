//! Several threads append while several read: every reader sees a gap-free,
//! in-order prefix of the final log, never a record that is not durable, and every
//! acknowledged append is present with its bytes.

use crate::storage_support;

use std::sync::atomic::{AtomicBool, Ordering};

use eventlog::storage::{FsyncPolicy, ReadLimits, StoredRecord};
use storage_support::*;

#[test]
fn concurrent_appenders_and_readers_see_a_gap_free_durable_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(FsyncPolicy::Always));
    let done = AtomicBool::new(false);
    let (acked, observed) = std::thread::scope(|s| {
        let writers: Vec<_> = (0..4u64)
            .map(|w| {
                let log = &log;
                s.spawn(move || {
                    let mut acked = Vec::new();
                    for i in 0..150u64 {
                        let records = batch(w * 1000 + i, 1 + i % 4, 300);
                        let info = log.append(&records).unwrap();
                        // The acknowledged batch is visible to readers at once.
                        assert!(log.high_watermark() > info.last_offset);
                        acked.push((info.base_offset, records));
                    }
                    acked
                })
            })
            .collect();
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let (log, done) = (&log, &done);
                s.spawn(move || {
                    let mut seen: Vec<StoredRecord> = Vec::new();
                    loop {
                        let finished = done.load(Ordering::Acquire);
                        let from = seen.len() as u64;
                        let hw_before = log.high_watermark();
                        let got = log
                            .read(
                                from,
                                ReadLimits {
                                    max_records: 97,
                                    max_bytes: 1 << 20,
                                },
                            )
                            .unwrap();
                        for (i, r) in got.records.iter().enumerate() {
                            assert_eq!(r.offset, from + i as u64, "gap or reorder");
                            assert!(
                                r.offset < got.high_watermark,
                                "record above the high watermark"
                            );
                        }
                        assert!(got.high_watermark >= hw_before);
                        seen.extend(got.records);
                        if finished && seen.len() as u64 == log.high_watermark() {
                            return seen;
                        }
                    }
                })
            })
            .collect();
        let acked: Vec<_> = writers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect();
        done.store(true, Ordering::Release);
        let observed: Vec<_> = readers.into_iter().map(|r| r.join().unwrap()).collect();
        (acked, observed)
    });
    let total: usize = acked.iter().map(|(_, r)| r.len()).sum();
    assert_eq!(log.high_watermark(), total as u64);
    let final_log = read_all(&log, 0);
    for (base, records) in &acked {
        for (i, record) in records.iter().enumerate() {
            assert_same(&final_log[*base as usize + i], record);
        }
    }
    for seen in observed {
        assert_eq!(seen, final_log, "every reader saw exactly the final log");
    }
    // And after a reopen (everything was acknowledged under `always`), all of it is there.
    drop(log);
    let reopened = open(dir.path(), small_config(FsyncPolicy::Always));
    assert_eq!(read_all(&reopened, 0), final_log);
}
