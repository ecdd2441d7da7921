//! A data directory written by the v1 batch format keeps working: the fixture under
//! `tests/fixtures/v1-data/` (written by `examples/make_v1_fixture.rs` on the last v1
//! release, with its content in `expected.json`) opens and reads back exactly, takes new
//! appends and survives a reopen, compacts as before, reads the same after a crash
//! (no clean-shutdown markers, so every active segment is scanned), and passes
//! `eventlog verify`.
//!
//! Every test works on its own copy: the committed fixture is never opened in place
//! (opening writes markers, group logs and the lock file).

use crate::upgrade_support;

use eventlog::broker::Acks;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use eventlog::broker::{Broker, BrokerConfig, Setting, TopicConfigUpdate};
use eventlog::storage::Record;
use upgrade_support::{Content, PartitionContent, RecordContent, TopicContent};

/// Timestamp of the records appended after the upgrade (mid 2025): newer than every
/// fixture record, and in the past so the broker's future bound accepts them.
const NEW_MS: i64 = 1_750_000_000_000;

/// The committed fixture: `data/` and `expected.json`.
fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1-data")
}

fn expected() -> Content {
    upgrade_support::load(&fixture().join("expected.json"))
}

/// A fresh copy of the fixture's data directory, at `<tempdir>/data`.
fn copy_fixture() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("fixture-upgrade-v1-")
        .tempdir()
        .unwrap();
    upgrade_support::copy_tree(&fixture().join("data"), &dir.path().join("data"));
    dir
}

/// Opens the copy. Groups never expire here: the fixture's commits are older than any
/// retention would keep, and their expiry is not what this test is about.
async fn open(dir: &Path) -> Arc<Broker> {
    let config = BrokerConfig {
        data_dir: dir.join("data"),
        group_retention: Duration::ZERO,
        ..BrokerConfig::default()
    };
    tokio::task::spawn_blocking(move || Broker::open(config))
        .await
        .unwrap()
        .unwrap()
}

async fn close(broker: Arc<Broker>) {
    tokio::task::spawn_blocking(move || broker.close())
        .await
        .unwrap();
}

/// Compares partition by partition and record by record, naming the first difference.
fn assert_topics(actual: &[TopicContent], expected: &[TopicContent]) {
    let names = |t: &[TopicContent]| t.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(actual), names(expected), "topics");
    for (a, e) in actual.iter().zip(expected) {
        assert_eq!(
            a.partitions.len(),
            e.partitions.len(),
            "{} partitions",
            e.name
        );
        for (pa, pe) in a.partitions.iter().zip(&e.partitions) {
            assert_partition(&e.name, pa, pe);
        }
    }
}

fn assert_partition(topic: &str, actual: &PartitionContent, expected: &PartitionContent) {
    let at = format!("{topic}/{}", expected.partition);
    assert_eq!(actual.partition, expected.partition, "{at}");
    assert_eq!(actual.log_start, expected.log_start, "{at}: log start");
    assert_eq!(
        actual.high_watermark, expected.high_watermark,
        "{at}: high watermark"
    );
    for (a, e) in actual.records.iter().zip(&expected.records) {
        assert_eq!(a, e, "{at}: record at offset {}", e.offset);
    }
    assert_eq!(
        actual.records.len(),
        expected.records.len(),
        "{at}: record count"
    );
}

/// Reads everything the broker serves and compares it with `expected`.
async fn assert_reads(broker: &Broker, expected: &Content) {
    assert_topics(
        &upgrade_support::read_topics(broker).await,
        &expected.topics,
    );
    assert_eq!(
        upgrade_support::read_groups(broker).await,
        expected.groups,
        "group offsets"
    );
}

fn partition<'a>(content: &'a Content, topic: &str, number: u32) -> &'a PartitionContent {
    let topic = content.topics.iter().find(|t| t.name == topic).unwrap();
    &topic.partitions[number as usize]
}

#[test]
fn the_fixture_has_the_shape_the_upgrade_needs() {
    // Guards the fixture itself: if it lost these, the tests below would prove less.
    let expected = expected();
    let orders: Vec<&RecordContent> = (0..3)
        .flat_map(|p| &partition(&expected, "orders", p).records)
        .collect();
    assert_eq!(orders.len(), 300);
    assert!(orders.iter().any(|r| r.key.is_none()));
    assert!(orders.iter().any(|r| r.value.is_none()));
    assert!(orders.iter().any(|r| r.value.as_deref() == Some("")));
    assert!(
        orders
            .iter()
            .any(|r| r.value.as_ref().is_some_and(|v| v.len() > 4000))
    );
    assert!(orders.iter().any(|r| r.headers.len() == 3));
    let state = partition(&expected, "state", 0);
    let contiguous = (state.log_start..state.high_watermark).count();
    assert!(
        state.records.len() < contiguous,
        "state has no compaction gaps"
    );
    assert!(state.records.iter().any(|r| r.value.is_none()));
    assert_eq!(expected.groups.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_every_record_and_group_offset_as_written() {
    let dir = copy_fixture();
    let broker = open(dir.path()).await;
    assert_reads(&broker, &expected()).await;
    for topic in ["orders", "state"] {
        let described = broker.describe_topic(topic).await.unwrap();
        assert!(described.unavailable.is_empty(), "{described:?}");
    }
    let orders = broker.describe_topic("orders").await.unwrap();
    for stats in &orders.partitions {
        assert!(stats.segment_count >= 3, "{stats:?}");
    }
    close(broker).await;
}

/// Three new records for one partition: a keyed one, a keyless one, a tombstone.
fn new_records(topic: &str, partition: u32) -> Vec<Record> {
    let key = |k: &str| Some(Bytes::from(format!("{topic}-{partition}-{k}")));
    vec![
        Record {
            key: key("new"),
            value: Some(Bytes::from(vec![0xab; 300])),
            headers: vec![],
            timestamp_ms: NEW_MS,
        },
        Record {
            key: None,
            value: Some(Bytes::from_static(b"after the upgrade")),
            headers: vec![],
            timestamp_ms: NEW_MS + 1,
        },
        Record {
            key: key("gone"),
            value: None,
            headers: vec![],
            timestamp_ms: NEW_MS + 2,
        },
    ]
}

fn stored(record: &Record, offset: u64) -> RecordContent {
    RecordContent::of(&eventlog::storage::StoredRecord {
        offset,
        timestamp_ms: record.timestamp_ms,
        key: record.key.clone(),
        value: record.value.clone(),
        headers: record.headers.clone(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_after_the_old_records_and_everything_survives_a_reopen() {
    let dir = copy_fixture();
    let mut expected = expected();
    let broker = open(dir.path()).await;
    for topic in &mut expected.topics {
        for p in &mut topic.partitions {
            let records = new_records(&topic.name, p.partition);
            let appended = broker
                .produce(
                    &topic.name,
                    Some(p.partition),
                    records.clone(),
                    Some(p.high_watermark),
                    Acks::All,
                )
                .await
                .unwrap();
            assert_eq!(appended[0].info.base_offset, p.high_watermark);
            for record in &records {
                p.records.push(stored(record, p.high_watermark));
                p.high_watermark += 1;
            }
        }
    }
    assert_reads(&broker, &expected).await;
    close(broker).await;
    // The old segments stay version 1; each partition's appends went to one new
    // version 2 segment (the first append rolled the old active segment).
    for topic in &expected.topics {
        for p in &topic.partitions {
            let dir = dir
                .path()
                .join("data/topics")
                .join(&topic.name)
                .join(p.partition.to_string());
            let mut magics: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|path| path.extension().is_some_and(|e| e == "log"))
                .map(|path| {
                    (
                        path.display().to_string(),
                        std::fs::read(&path).unwrap()[..8].to_vec(),
                    )
                })
                .collect();
            magics.sort();
            let (newest, older) = magics.split_last().unwrap();
            assert_eq!(newest.1, b"EVLSEG02", "{}", newest.0);
            assert!(older.iter().all(|(_, m)| m == b"EVLSEG01"), "{older:?}");
        }
    }
    let broker = open(dir.path()).await;
    assert_reads(&broker, &expected).await;
    close(broker).await;
}

/// The newest record of every key, and every keyless record: what compacting a log
/// whose records are all sealed (or the newest of their key) leaves.
fn compacted(records: &[RecordContent]) -> Vec<RecordContent> {
    let mut newest: BTreeMap<&str, u64> = BTreeMap::new();
    for r in records {
        if let Some(key) = &r.key {
            newest.insert(key, r.offset);
        }
    }
    let keep = |r: &RecordContent| r.key.as_deref().is_none_or(|k| newest[k] == r.offset);
    records.iter().filter(|r| keep(r)).cloned().collect()
}

fn state_record(key: &str, value: Option<&str>, timestamp_ms: i64) -> Record {
    Record {
        key: Some(Bytes::from(key.to_string())),
        value: value.map(|v| Bytes::from(v.to_string())),
        headers: vec![],
        timestamp_ms,
    }
}

/// Sets `segment_ms` of `state` (`Some(1)`: the next append after a pause rolls).
async fn set_segment_ms(broker: &Arc<Broker>, value: Option<u64>) {
    let update = TopicConfigUpdate {
        segment_ms: value.map_or(Setting::Reset, Setting::Set),
        ..TopicConfigUpdate::default()
    };
    broker.update_topic_config("state", update).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_keeps_the_newest_record_of_every_key_old_and_new() {
    let dir = copy_fixture();
    let before = partition(&expected(), "state", 0).clone();
    let hex = |s: &str| Some(upgrade_support::hex(s.as_bytes()));
    let newest = |records: &[RecordContent], key: &str| {
        let key = hex(key);
        records.iter().rfind(|r| r.key == key).cloned().unwrap()
    };
    // What the v1 data says, compaction or not: a tombstone is k09's newest record, k05
    // was written again after its tombstone, k02's newest is the tombstone of round 5.
    assert_eq!(newest(&before.records, "k09").value, None);
    assert_eq!(newest(&before.records, "k05").value, hex("k05=v4"));
    assert_eq!(newest(&before.records, "k02").value, None);

    let broker = open(dir.path()).await;
    let read = upgrade_support::read_partition(&broker, "state", 0).await;
    assert_partition("state", &read, &before);
    // Seal the v1 active segment by rolling on the next append, then seal the new
    // records too behind a filler, so every record but the filler is in the compacted
    // range and the outcome is exact.
    set_segment_ms(&broker, Some(1)).await;
    let appended = [
        state_record("k00", Some("k00=new"), NEW_MS),
        state_record("k03", Some("k03=new"), NEW_MS + 1),
        state_record("k04", None, NEW_MS + 2),
    ];
    tokio::time::sleep(Duration::from_millis(10)).await;
    broker
        .produce("state", Some(0), appended.to_vec(), None, Acks::All)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let filler = state_record("filler", Some("f"), NEW_MS + 3);
    broker
        .produce("state", Some(0), vec![filler.clone()], None, Acks::All)
        .await
        .unwrap();
    set_segment_ms(&broker, None).await;

    let mut all = before.records.clone();
    let mut next = before.high_watermark;
    for record in appended.iter().chain([&filler]) {
        all.push(stored(record, next));
        next += 1;
    }
    let stats = broker.compact_topic("state", false).await.unwrap().replicas;
    assert!(stats[0].stats.records_removed > 0, "{stats:?}");
    let want = PartitionContent {
        partition: 0,
        log_start: before.log_start,
        high_watermark: next,
        records: compacted(&all),
    };
    // The v1 values of the overwritten keys are gone, the v1 tombstones stay.
    for key in ["k00", "k03", "k04"] {
        assert!(
            !want.records.contains(&newest(&before.records, key)),
            "{key}"
        );
    }
    assert!(want.records.contains(&newest(&before.records, "k09")));
    assert!(want.records.contains(&newest(&before.records, "k05")));
    let read = upgrade_support::read_partition(&broker, "state", 0).await;
    assert_partition("state", &read, &want);
    close(broker).await;
    let broker = open(dir.path()).await;
    let read = upgrade_support::read_partition(&broker, "state", 0).await;
    assert_partition("state", &read, &want);
    close(broker).await;
}

/// Every file named `clean-shutdown` under `dir`, recursively.
fn markers(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(markers(&path));
        } else if path.file_name().is_some_and(|n| n == "clean-shutdown") {
            found.push(path);
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_the_same_after_a_crash_left_no_clean_shutdown_markers() {
    let dir = copy_fixture();
    let found = markers(&dir.path().join("data/topics"));
    // One per partition: 3 of orders, 1 of state.
    assert_eq!(found.len(), 4, "{found:?}");
    for marker in &found {
        std::fs::remove_file(marker).unwrap();
    }
    let broker = open(dir.path()).await;
    assert_reads(&broker, &expected()).await;
    close(broker).await;
}

#[test]
fn verify_passes_on_the_old_directory() {
    let dir = copy_fixture();
    let output = Command::new(env!("CARGO_BIN_EXE_eventlog"))
        .arg("verify")
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("0 errors"), "{stdout}");
}
