//! Helpers shared by the storage engine's integration tests.
#![allow(dead_code)]

use std::path::Path;

use bytes::Bytes;
use eventlog::storage::{
    FsyncPolicy, Header, Log, LogConfig, LogIdent, ReadLimits, Record, StoredRecord,
};

/// A small-segment config (1 MiB) with a small index interval, so tests roll and index.
pub fn small_config(fsync: FsyncPolicy) -> LogConfig {
    LogConfig {
        segment_bytes: 1 << 20,
        index_interval_bytes: 512,
        fsync,
        max_batch_bytes: 1 << 20,
        ..LogConfig::default()
    }
}

pub fn open(dir: &Path, config: LogConfig) -> Log {
    Log::open(dir, LogIdent::new("t", 0), config).expect("open log")
}

/// A record whose value names its batch and position, with a key and a header.
pub fn record(batch: u64, i: u64, value_len: usize) -> Record {
    let mut value = format!("b{batch}-r{i}-").into_bytes();
    value.resize(value_len.max(value.len()), b'x');
    Record {
        key: Some(Bytes::from(format!("key-{}", i % 7))),
        value: Some(Bytes::from(value)),
        headers: vec![Header {
            key: "batch".into(),
            value: Bytes::from(batch.to_le_bytes().to_vec()),
        }],
        timestamp_ms: 1_000_000 + (batch * 10 + i) as i64,
    }
}

pub fn batch(batch_no: u64, n: u64, value_len: usize) -> Vec<Record> {
    (0..n).map(|i| record(batch_no, i, value_len)).collect()
}

/// Reads everything from `from` to the high watermark.
pub fn read_all(log: &Log, from: u64) -> Vec<StoredRecord> {
    let mut out = Vec::new();
    let mut next = from;
    loop {
        let got = log
            .read(
                next,
                ReadLimits {
                    max_records: 500,
                    max_bytes: 1 << 20,
                },
            )
            .expect("read");
        if got.records.is_empty() {
            return out;
        }
        next = got.next_offset;
        out.extend(got.records);
    }
}

/// Asserts a stored record equals the record that was appended.
pub fn assert_same(stored: &StoredRecord, appended: &Record) {
    assert_eq!(stored.key, appended.key, "key at {}", stored.offset);
    assert_eq!(stored.value, appended.value, "value at {}", stored.offset);
    assert_eq!(
        stored.headers, appended.headers,
        "headers at {}",
        stored.offset
    );
    assert_eq!(
        stored.timestamp_ms, appended.timestamp_ms,
        "timestamp at {}",
        stored.offset
    );
}

/// Copies a directory's files (not recursive): a snapshot of a log to damage.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

pub fn segment_path(dir: &Path, base: u64) -> std::path::PathBuf {
    dir.join(format!("{base:020}.log"))
}

pub fn index_path(dir: &Path, base: u64) -> std::path::PathBuf {
    dir.join(format!("{base:020}.index"))
}

/// Base offsets of the segment files in `dir`, ascending (the active segment last).
pub fn segment_bases(dir: &Path) -> Vec<u64> {
    let mut bases: Vec<u64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".log")?
                .parse()
                .ok()
        })
        .collect();
    bases.sort_unstable();
    bases
}
