//! Idempotent appends through a whole log: duplicates answered with their original
//! offsets, refusals, and producer state that survives close, crash, rolls, retention
//! and compaction of the producer's batches (Kafka's KAFKA-7190), lost snapshots, and
//! truncation.

use std::path::Path;

use bytes::Bytes;

use crate::storage::producer_snapshot;
use crate::storage::producer_state::{ProducerBatch, SequenceError};
use crate::storage::verify::{self, WalkEvent};
use crate::storage::{AppendError, CompactionConfig, Log, LogConfig, LogIdent, Record};

fn open(dir: &Path) -> Log {
    Log::open(dir, LogIdent::new("t", 0), LogConfig::small()).unwrap()
}

fn records(n: usize, tag: &str) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            key: Some(Bytes::from(format!("key-{i}"))),
            value: Some(Bytes::from(format!("{tag}-{i}").repeat(50))),
            timestamp_ms: crate::storage::producers::now_ms(),
            ..Record::default()
        })
        .collect()
}

fn producer(id: i64, epoch: i16, base_sequence: i32) -> ProducerBatch {
    ProducerBatch {
        producer_id: id,
        epoch,
        base_sequence,
    }
}

#[test]
fn a_retried_batch_answers_with_its_original_offsets_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.append(&records(2, "plain")).unwrap();
    let first = log
        .append_idempotent(&records(3, "a"), producer(7, 0, 0), None)
        .unwrap();
    let second = log
        .append_idempotent(&records(2, "b"), producer(7, 0, 3), None)
        .unwrap();
    assert_eq!((first.base_offset, second.base_offset), (2, 5));
    assert!(!first.duplicate && !second.duplicate);
    let retry = log
        .append_idempotent(&records(3, "a"), producer(7, 0, 0), None)
        .unwrap();
    assert!(retry.duplicate);
    assert_eq!((retry.base_offset, retry.last_offset), (2, 4));
    assert_eq!(log.high_watermark(), 7);
    // The duplicate check comes before an expected-offset check.
    let retry = log
        .append_idempotent(&records(2, "b"), producer(7, 0, 3), Some(0))
        .unwrap();
    assert!(retry.duplicate);
    // The batch headers carry the producer.
    let mut seen = Vec::new();
    let segment = dir.path().join("00000000000000000000.log");
    verify::walk(&segment, &mut |event| {
        if let WalkEvent::Batch { header, .. } = event {
            seen.push((
                header.producer_id,
                header.producer_epoch,
                header.base_sequence,
            ));
        }
    })
    .unwrap();
    assert_eq!(seen, [(-1, -1, -1), (7, 0, 0), (7, 0, 3)]);
}

#[test]
fn gaps_old_epochs_and_too_many_producers_are_refused_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(
        dir.path(),
        LogIdent::new("t", 0),
        LogConfig {
            producer_limits: crate::storage::producer_state::ProducerLimits {
                max_producers: 2,
                ..Default::default()
            },
            ..LogConfig::small()
        },
    )
    .unwrap();
    log.append_idempotent(&records(1, "a"), producer(1, 2, 0), None)
        .unwrap();
    let refused = |result: Result<_, AppendError>| match result {
        Err(AppendError::Sequence { source, .. }) => source,
        other => panic!("expected a sequence error, got {other:?}"),
    };
    assert!(matches!(
        refused(log.append_idempotent(&records(1, "b"), producer(1, 2, 5), None)),
        SequenceError::OutOfOrder {
            expected: 1,
            got: 5,
            ..
        }
    ));
    assert!(matches!(
        refused(log.append_idempotent(&records(1, "c"), producer(1, 1, 1), None)),
        SequenceError::Fenced {
            current: 2,
            got: 1,
            ..
        }
    ));
    log.append_idempotent(&records(1, "d"), producer(2, 0, 0), None)
        .unwrap();
    assert!(matches!(
        refused(log.append_idempotent(&records(1, "e"), producer(3, 0, 0), None)),
        SequenceError::TooManyProducers { limit: 2, .. }
    ));
    assert_eq!(log.high_watermark(), 2);
}

/// Appends `batches` batches of two records for producer 5 from sequence 0.
fn produce_batches(log: &Log, batches: u32) {
    for b in 0..batches {
        let tag = format!("p{b}");
        log.append_idempotent(&records(2, &tag), producer(5, 0, (b * 2) as i32), None)
            .unwrap();
    }
}

/// The producer goes on: a retry of its last batch is a duplicate, the next appends.
fn assert_producer_state_survived(log: &Log, batches: u32) {
    let last = batches - 1;
    let retry = log
        .append_idempotent(
            &records(2, &format!("p{last}")),
            producer(5, 0, (last * 2) as i32),
            None,
        )
        .unwrap();
    assert!(retry.duplicate, "{retry:?}");
    let next = log
        .append_idempotent(
            &records(2, "next"),
            producer(5, 0, (batches * 2) as i32),
            None,
        )
        .unwrap();
    assert!(!next.duplicate);
}

#[test]
fn producer_state_survives_a_close_a_crash_and_lost_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    produce_batches(&log, 4);
    log.close().unwrap();
    drop(log);
    assert!(!producer_snapshot::list(dir.path()).unwrap().is_empty());
    let log = open(dir.path());
    assert_producer_state_survived(&log, 4);
    // A crash: no close, so the state comes from replaying the batches.
    produce_batches_from(&log, 5, 2);
    drop(log);
    let log = open(dir.path());
    assert_producer_state_survived(&log, 7);
    drop(log);
    // Every snapshot lost: the whole log is replayed.
    for base in producer_snapshot::list(dir.path()).unwrap() {
        std::fs::remove_file(producer_snapshot::path(dir.path(), base)).unwrap();
    }
    let log = open(dir.path());
    assert_producer_state_survived(&log, 8);
    log.close().unwrap();
    // Snapshots are not segments: `verify` finds nothing wrong beside them.
    let report = verify::verify(dir.path()).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(!producer_snapshot::list(dir.path()).unwrap().is_empty());
}

/// Appends `n` batches for producer 5 from batch number `from`.
fn produce_batches_from(log: &Log, from: u32, n: u32) {
    for b in from..from + n {
        log.append_idempotent(
            &records(2, &format!("p{b}")),
            producer(5, 0, (b * 2) as i32),
            None,
        )
        .unwrap();
    }
}

#[test]
fn retention_and_compaction_removing_the_producers_batches_keep_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    produce_batches(&log, 3);
    log.roll().unwrap();
    // Other producers fill the log; producer 5's batches all sit in the first segment.
    fill_with_other_producers(&log, 0);
    let removed = log
        .delete_segments_below(log.segment_infos()[1].base_offset)
        .unwrap();
    assert!(removed.segments >= 1);
    // A crash: producer 5's batches are gone, only the snapshot taken at the roll
    // still knows it.
    drop(log);
    let log = open(dir.path());
    assert_producer_state_survived(&log, 3);
    // Its newest batch sealed, then emptied by compaction (newer records of the same
    // keys follow); with every snapshot lost, the kept empty header still tells.
    log.roll().unwrap();
    fill_with_other_producers(&log, 1);
    let compacted = log.compact(CompactionConfig::default()).unwrap();
    assert!(compacted.records_removed > 0);
    drop(log);
    for base in producer_snapshot::list(dir.path()).unwrap() {
        std::fs::remove_file(producer_snapshot::path(dir.path(), base)).unwrap();
    }
    let log = open(dir.path());
    assert_producer_state_survived(&log, 4);
}

/// Appends 400 batches of producer 6 (epoch `epoch`, from sequence 0) and rolls.
fn fill_with_other_producers(log: &Log, epoch: i16) {
    for b in 0..400 {
        log.append_idempotent(&records(5, "other"), producer(6, epoch, b * 5), None)
            .unwrap();
    }
    log.roll().unwrap();
}

#[test]
fn a_truncated_batch_is_appended_again_not_taken_for_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    produce_batches(&log, 3);
    log.close().unwrap();
    drop(log);
    let log = open(dir.path());
    log.truncate_to(4).unwrap();
    let again = log
        .append_idempotent(&records(2, "p2"), producer(5, 0, 4), None)
        .unwrap();
    assert!(!again.duplicate);
    assert_eq!(again.base_offset, 4);
    drop(log);
    let log = open(dir.path());
    assert_producer_state_survived(&log, 3);
}
