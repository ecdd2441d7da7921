//! Key compaction against a model: exactly the newest record per key survives (in
//! however many passes the bounded key map needs), with offsets and bytes unchanged;
//! keyless records stay; tombstones go only after the delete retention.

use crate::storage_support;

use std::time::Duration;

use bytes::Bytes;
use eventlog::storage::{CompactionConfig, FsyncPolicy, Record};
use proptest::prelude::*;
use storage_support::*;

const FUTURE: i64 = i64::MAX / 2;

#[derive(Debug, Clone)]
struct Spec {
    key: Option<u8>,
    tombstone: bool,
    old: bool,
}

fn to_record(i: usize, spec: &Spec) -> Record {
    Record {
        key: spec.key.map(|k| Bytes::from(format!("key-{k}"))),
        value: (!spec.tombstone || spec.key.is_none()).then(|| Bytes::from(format!("value-{i}"))),
        headers: vec![],
        timestamp_ms: if spec.old { 1_000 + i as i64 } else { FUTURE },
    }
}

fn expected_offsets(records: &[Record]) -> Vec<u64> {
    let keep = |i: usize, r: &Record| -> bool {
        let Some(key) = &r.key else { return true };
        let newest = records
            .iter()
            .rposition(|o| o.key.as_ref() == Some(key))
            .unwrap();
        i == newest && !(r.value.is_none() && r.timestamp_ms < FUTURE)
    };
    records
        .iter()
        .enumerate()
        .filter(|(i, r)| keep(*i, r))
        .map(|(i, _)| i as u64)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn compaction_keeps_exactly_the_newest_record_per_key(
        specs in proptest::collection::vec((proptest::option::weighted(0.9, 0u8..40), any::<bool>(), any::<bool>()), 1..300),
        batch_len in 1usize..20,
        key_map_keys in 1usize..50,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), small_config(FsyncPolicy::Never));
        let records: Vec<Record> = specs
            .iter()
            .enumerate()
            .map(|(i, (key, tombstone, old))| to_record(i, &Spec { key: *key, tombstone: *tombstone, old: *old }))
            .collect();
        for (n, chunk) in records.chunks(batch_len).enumerate() {
            log.append(chunk).unwrap();
            if n % 3 == 2 {
                log.roll().unwrap();
            }
        }
        log.roll().unwrap();
        // "key-NN" is 6 bytes; the map then holds about `key_map_keys` keys per pass.
        let config = CompactionConfig { key_map_max_bytes: key_map_keys * 38, delete_retention: Duration::ZERO, end_offset: None };
        let stats = log.compact(config).unwrap();
        let expected = expected_offsets(&records);
        let check = |log: &eventlog::storage::Log| -> Result<(), TestCaseError> {
            let all = read_all(log, log.log_start_offset());
            prop_assert_eq!(all.iter().map(|r| r.offset).collect::<Vec<_>>(), expected.clone());
            for stored in &all {
                assert_same(stored, &records[stored.offset as usize]);
            }
            Ok(())
        };
        check(&log)?;
        prop_assert_eq!(stats.records_removed as usize, records.len() - expected.len());
        prop_assert_eq!(log.high_watermark(), records.len() as u64);
        drop(log);
        let log = open(dir.path(), small_config(FsyncPolicy::Never));
        check(&log)?;
        prop_assert_eq!(log.append(&records[..1]).unwrap().base_offset, records.len() as u64);
    }
}

#[test]
fn recent_tombstones_stay_and_old_values_under_them_go() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(FsyncPolicy::Never));
    let value = |k: &str, v: &str| Record {
        key: Some(Bytes::from(k.to_string())),
        value: Some(Bytes::from(v.to_string())),
        headers: vec![],
        timestamp_ms: 1,
    };
    let tombstone = |k: &str| Record {
        key: Some(Bytes::from(k.to_string())),
        value: None,
        headers: vec![],
        timestamp_ms: FUTURE,
    };
    log.append(&[
        value("a", "1"),
        value("b", "1"),
        value("a", "2"),
        tombstone("b"),
    ])
    .unwrap();
    log.roll().unwrap();
    let stats = log.compact(CompactionConfig::default()).unwrap();
    assert_eq!(stats.records_removed, 2);
    assert_eq!(stats.tombstones_removed, 0);
    let kept: Vec<u64> = read_all(&log, 0).iter().map(|r| r.offset).collect();
    assert_eq!(kept, vec![2, 3]);
}

#[test]
fn compaction_stops_at_its_end_offset_and_keeps_control_batches_whole() {
    use eventlog::storage::batch_v2::{self, ATTR_CONTROL, BatchMeta};

    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(FsyncPolicy::Never));
    let value = |v: &str| Record {
        key: Some(Bytes::from_static(b"k")),
        value: Some(Bytes::from(v.to_string())),
        headers: vec![],
        timestamp_ms: 1,
    };
    // A control batch whose record's key is the same bytes as the user's key.
    let mut control = Vec::new();
    let meta = BatchMeta {
        attributes: ATTR_CONTROL,
        ..BatchMeta::default()
    };
    batch_v2::encode(&mut control, [(0, &value("control"))].into_iter(), &meta).unwrap();
    log.write_batch(&mut control).unwrap(); // offset 0
    log.append(&[value("1")]).unwrap(); // offset 1
    log.roll().unwrap();
    log.append(&[value("2")]).unwrap(); // offset 2
    log.roll().unwrap();
    log.append(&[value("3")]).unwrap(); // offset 3
    log.roll().unwrap();

    // Only the segments ending at or below offset 3 are compacted: "3" does not
    // supersede "2", which is the newest record of its key below the limit.
    let bounded = CompactionConfig {
        end_offset: Some(3),
        ..CompactionConfig::default()
    };
    let stats = log.compact(bounded).unwrap();
    assert_eq!(stats.records_removed, 1);
    let kept: Vec<u64> = read_all(&log, 0).iter().map(|r| r.offset).collect();
    assert_eq!(kept, vec![2, 3]);
    let batches = log.read_batches(0, 1 << 20, 1).unwrap();
    assert!(batches[0].header.is_control());
    assert_eq!(
        batches[0].header.record_count, 1,
        "the control record stays"
    );

    // Without a limit, the newest record supersedes every older one.
    log.compact(CompactionConfig::default()).unwrap();
    let kept: Vec<u64> = read_all(&log, 0).iter().map(|r| r.offset).collect();
    assert_eq!(kept, vec![3]);
    let batches = log.read_batches(0, 1 << 20, 1).unwrap();
    assert_eq!(
        batches[0].header.record_count, 1,
        "the control record stays"
    );
}
