//! Compaction streams its output: compacting a topic whose surviving data is several
//! times a small memory bound keeps the compacting process's anonymous memory
//! (`RssAnon`, its heap; mapped segment files are page cache, not counted) under that
//! bound. Runs the real binary (`eventlog compact --data-dir`) so the memory measured is
//! that process's own.

use crate::common;

use eventlog::broker::Acks;
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::try_anon_rss_kib;
use eventlog::broker::{Broker, BrokerConfig, CleanupPolicy, DirtyRatio, NewTopic};
use eventlog::storage::{FsyncPolicy, Log, LogConfig, LogIdent, ReadLimits, Record};

const TOPIC: &str = "big";
const VALUE_BYTES: usize = 100 << 10;
/// Records written (about 270 MiB); every tenth overwrites one of a few hot keys.
const RECORDS: u64 = 2_800;
const HOT_KEYS: u64 = 4;
/// The memory bound: well under the ~250 MiB that survive compaction.
const BOUND_KIB: u64 = 64 << 10;

fn key(i: u64) -> String {
    if i.is_multiple_of(10) {
        format!("hot-{}", (i / 10) % HOT_KEYS)
    } else {
        format!("key-{i}")
    }
}

/// Writes the topic through the broker (16 MiB segments, no background compaction).
async fn write_topic(dir: &std::path::Path) {
    let config = BrokerConfig {
        data_dir: dir.to_path_buf(),
        fsync: FsyncPolicy::Never,
        tick_interval: Duration::from_secs(3600),
        ..BrokerConfig::default()
    };
    let broker: Arc<Broker> = tokio::task::spawn_blocking(move || Broker::open(config))
        .await
        .unwrap()
        .unwrap();
    let request = NewTopic {
        name: TOPIC.into(),
        cleanup_policy: CleanupPolicy::Compact,
        segment_bytes: Some(16 << 20),
        min_cleanable_dirty_ratio: Some(DirtyRatio::new(1.0).unwrap()),
        ..NewTopic::default()
    };
    broker.create_topic(request).await.unwrap();
    let now = eventlog::service::convert::now_ms();
    for first in (0..RECORDS).step_by(10) {
        let records = (first..first + 10)
            .map(|i| Record {
                key: Some(Bytes::from(key(i))),
                value: Some(Bytes::from(vec![(i % 251) as u8; VALUE_BYTES])),
                headers: vec![],
                timestamp_ms: now,
            })
            .collect();
        broker
            .produce(TOPIC, Some(0), records, None, Acks::All)
            .await
            .unwrap();
    }
    tokio::task::spawn_blocking(move || broker.close())
        .await
        .unwrap();
}

/// Runs the offline compaction, sampling its `RssAnon` until it exits; returns its
/// JSON report line and the peak in KiB.
fn compact_offline(dir: &std::path::Path) -> (serde_json::Value, u64) {
    let child = Command::new(env!("CARGO_BIN_EXE_eventlog"))
        .args(["compact", "--format", "json", "--data-dir"])
        .arg(dir)
        .arg(TOPIC)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run eventlog compact");
    let pid = child.id();
    let sampler = std::thread::spawn(move || {
        let mut peak = 0;
        // Until the process exits (its status then shows no memory).
        while let Some(kib) = try_anon_rss_kib(pid) {
            peak = peak.max(kib);
            std::thread::sleep(Duration::from_millis(2));
        }
        peak
    });
    let output = child.wait_with_output().expect("wait for eventlog compact");
    let peak = sampler.join().unwrap();
    assert!(
        output.status.success(),
        "compact failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = String::from_utf8(output.stdout).unwrap();
    (
        serde_json::from_str(line.trim()).expect("one JSON line"),
        peak,
    )
}

fn open_partition(dir: &std::path::Path) -> Log {
    let path = dir.join("topics").join(TOPIC).join("0");
    Log::open(&path, LogIdent::new(TOPIC, 0), LogConfig::default()).unwrap()
}

/// One past the last offset of the sealed segments: compaction covers them only.
fn sealed_end(dir: &std::path::Path) -> u64 {
    let infos = open_partition(dir).segment_infos();
    infos
        .iter()
        .filter(|s| s.sealed)
        .map(|s| s.next_offset)
        .max()
        .unwrap()
}

/// What compaction keeps: records at or past `sealed_end`, and below it each key's
/// newest record there.
fn expected(sealed_end: u64) -> Vec<(u64, String)> {
    let newest: HashMap<String, u64> = (0..sealed_end).map(|i| (key(i), i)).collect();
    (0..RECORDS)
        .filter(|i| *i >= sealed_end || newest[&key(*i)] == *i)
        .map(|i| (i, key(i)))
        .collect()
}

/// Every record left in the compacted partition: offset and key.
fn surviving(dir: &std::path::Path) -> Vec<(u64, String)> {
    let log = open_partition(dir);
    let (mut next, mut out) = (0, Vec::new());
    loop {
        let limits = ReadLimits {
            max_records: 100,
            max_bytes: 16 << 20,
        };
        let got = log.read(next, limits).unwrap();
        if got.records.is_empty() {
            return out;
        }
        next = got.next_offset;
        out.extend(got.records.iter().map(|r| {
            let key = String::from_utf8(r.key.as_ref().unwrap().to_vec()).unwrap();
            (r.offset, key)
        }));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compacting_much_more_data_than_the_bound_stays_under_it() {
    let dir = tempfile::tempdir().unwrap();
    write_topic(dir.path()).await;
    let expected = expected(sealed_end(dir.path()));
    let (report, peak_kib) = compact_offline(dir.path());

    let removed = report["records_removed"].as_u64().unwrap();
    assert_eq!(removed, RECORDS - expected.len() as u64, "{report}");
    let kept_bytes = report["bytes_after"].as_u64().unwrap();
    eprintln!("compacted to {kept_bytes} bytes; RssAnon peaked at {peak_kib} KiB");
    assert!(kept_bytes > 3 * (BOUND_KIB << 10), "{report}");
    assert!(
        peak_kib > 0 && peak_kib < BOUND_KIB,
        "RssAnon peaked at {peak_kib} KiB compacting {kept_bytes} bytes of survivors; bound {BOUND_KIB} KiB"
    );
    let records = surviving(dir.path());
    assert_eq!(records.len(), expected.len());
    assert!(
        records == expected,
        "the surviving records differ from the model"
    );
}
