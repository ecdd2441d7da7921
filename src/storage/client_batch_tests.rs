//! Producer-built batches: a good one is appended as sent, and every kind of bad one
//! is refused with a message naming what is wrong, leaving the log untouched.

use bytes::Bytes;

use super::{ClientBatchError, check_client_batch, stamp_arrival_time};
use crate::storage::batch::v2::{self, BatchMeta};
use crate::storage::batch::{BatchFormat, NO_PRODUCER};
use crate::storage::{Log, LogConfig, LogIdent, ReadLimits, Record};

fn records(n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(format!("value {i}"))),
            timestamp_ms: 1_700_000_000_000 + i as i64,
            ..Record::default()
        })
        .collect()
}

fn built(n: usize, meta: &BatchMeta) -> Vec<u8> {
    encoded(&records(n), meta)
}

fn encoded(records: &[Record], meta: &BatchMeta) -> Vec<u8> {
    let mut buf = Vec::new();
    let numbered = records.iter().enumerate().map(|(i, r)| (i as u32, r));
    v2::encode(&mut buf, numbered, meta).unwrap();
    buf
}

/// Sets a big-endian field at `at` and recomputes the CRC, so only the field is wrong.
fn with_field(mut batch: Vec<u8>, at: usize, bytes: &[u8]) -> Vec<u8> {
    batch[at..at + bytes.len()].copy_from_slice(bytes);
    let crc = v2::crc32c(&batch[v2::ATTRIBUTES..]);
    batch[v2::CRC..v2::CRC + 4].copy_from_slice(&crc.to_be_bytes());
    batch
}

/// A log of version 2 batches in `dir`.
fn v2_log(dir: &std::path::Path) -> Log {
    let config = LogConfig {
        batch_format: BatchFormat::V2,
        ..LogConfig::small()
    };
    Log::open(dir, LogIdent::new("t", 0), config).unwrap()
}

fn refused(batch: &[u8]) -> String {
    match check_client_batch(batch) {
        Err(ClientBatchError(why)) => why,
        Ok(_) => panic!("the batch was accepted"),
    }
}

#[test]
fn a_good_batch_is_appended_as_sent_with_its_offsets_assigned() {
    let dir = tempfile::tempdir().unwrap();
    let log = v2_log(dir.path());
    log.append(&records(2)).unwrap();
    let mut batch = built(5, &BatchMeta::default());
    let checked = check_client_batch(&batch).unwrap();
    assert_eq!(checked.producer(), None);
    let info = log.append_client_batch(&mut batch, &checked, None).unwrap();
    assert_eq!((info.base_offset, info.last_offset), (2, 6));
    let read = log.read(2, ReadLimits::default()).unwrap();
    let want = records(5);
    assert_eq!(read.records.len(), 5);
    for (got, want) in read.records.iter().zip(&want) {
        assert_eq!((&got.key, &got.value), (&want.key, &want.value));
        assert_eq!(got.timestamp_ms, want.timestamp_ms);
    }
    // Stored byte for byte, but for the base offset and leader term.
    let raw = log.read_raw(2, ReadLimits::default(), None).unwrap();
    let stored = &raw.chunks[0][..];
    assert_eq!(&stored[v2::MAGIC_BYTE..], &batch[v2::MAGIC_BYTE..]);
    assert_eq!(i64::from_be_bytes(stored[..8].try_into().unwrap()), 2);
}

#[test]
fn a_producer_built_batch_is_idempotent_by_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogIdent::new("t", 0), LogConfig::small()).unwrap();
    let meta = BatchMeta {
        producer_id: 4,
        producer_epoch: 0,
        base_sequence: 0,
        ..BatchMeta::default()
    };
    let batch = built(3, &meta);
    let checked = check_client_batch(&batch).unwrap();
    let first = log
        .append_client_batch(&mut batch.clone(), &checked, None)
        .unwrap();
    let again = log
        .append_client_batch(&mut batch.clone(), &checked, None)
        .unwrap();
    assert!(!first.duplicate && again.duplicate);
    assert_eq!(again.base_offset, first.base_offset);
    assert_eq!(log.high_watermark(), 3);
    // A gap in the sequence is refused.
    let skipped = built(
        1,
        &BatchMeta {
            base_sequence: 9,
            ..meta
        },
    );
    let checked = check_client_batch(&skipped).unwrap();
    assert!(
        log.append_client_batch(&mut skipped.clone(), &checked, None)
            .is_err()
    );
    assert_eq!(log.high_watermark(), 3);
}

#[test]
fn bad_batches_are_refused_naming_the_fault() {
    let good = built(3, &BatchMeta::default());
    assert!(check_client_batch(&good).is_ok());

    let mut bad_crc = good.clone();
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 1;
    assert!(refused(&bad_crc).contains("crc mismatch"));

    assert!(refused(&good[..40]).contains("shorter than"));
    assert!(refused(&good[..good.len() - 1]).contains("length field"));
    let mut longer = good.clone();
    longer.push(0);
    assert!(refused(&longer).contains("length field"));

    let count_high = with_field(good.clone(), v2::RECORD_COUNT, &4i32.to_be_bytes());
    assert!(
        refused(&count_high).contains("record count"),
        "{}",
        refused(&count_high)
    );
    let both_high = with_field(count_high, v2::LAST_OFFSET_DELTA, &3i32.to_be_bytes());
    assert!(
        refused(&both_high).contains("holds 3"),
        "{}",
        refused(&both_high)
    );
    let zero = with_field(good.clone(), v2::RECORD_COUNT, &0i32.to_be_bytes());
    assert!(refused(&zero).contains("record count") || refused(&zero).contains("no records"));

    let base = with_field(good.clone(), v2::BASE_OFFSET, &7i64.to_be_bytes());
    // The base offset is outside the CRC: no need to recompute it, but harmless.
    assert!(refused(&base).contains("base offset 7"));
    let control = with_field(
        good.clone(),
        v2::ATTRIBUTES,
        &v2::ATTR_CONTROL.to_be_bytes(),
    );
    assert!(refused(&control).contains("attributes"));
    let max_ts = with_field(good.clone(), v2::MAX_TIMESTAMP, &5i64.to_be_bytes());
    assert!(refused(&max_ts).contains("max timestamp"));
    let half_producer = with_field(good.clone(), v2::PRODUCER_ID, &3i64.to_be_bytes());
    assert!(refused(&half_producer).contains("producer id"));
    let magic = with_field(good.clone(), v2::MAGIC_BYTE, &[1]);
    assert!(refused(&magic).contains("magic"));
}

/// A batch of `n` records without timestamps of their own, as a producer builds it:
/// the log-append-time bit set, every timestamp delta 0.
fn arrival_batch(n: usize) -> Vec<u8> {
    let untimed: Vec<Record> = records(n)
        .into_iter()
        .map(|r| Record {
            timestamp_ms: 42,
            ..r
        })
        .collect();
    let meta = BatchMeta {
        attributes: v2::ATTR_LOG_APPEND_TIME,
        ..BatchMeta::default()
    };
    encoded(&untimed, &meta)
}

#[test]
fn a_batch_stamped_on_arrival_is_stored_as_a_create_time_batch_with_the_server_clock() {
    let dir = tempfile::tempdir().unwrap();
    let log = v2_log(dir.path());
    let mut batch = arrival_batch(3);
    let mut checked = check_client_batch(&batch).unwrap();
    assert!(checked.stamped_on_arrival());
    stamp_arrival_time(&mut batch, &mut checked, 1_800_000_000_123);
    assert!(!checked.stamped_on_arrival());
    // The stamped bytes are a valid create-time batch in their own right.
    let again = check_client_batch(&batch).unwrap();
    assert_eq!(again.header, checked.header);
    assert_eq!(again.header.max_timestamp, 1_800_000_000_123);
    assert_eq!(again.header.attributes & v2::ATTR_LOG_APPEND_TIME, 0);
    log.append_client_batch(&mut batch, &checked, None).unwrap();
    let read = log.read(0, ReadLimits::default()).unwrap();
    let stamps: Vec<i64> = read.records.iter().map(|r| r.timestamp_ms).collect();
    assert_eq!(stamps, vec![1_800_000_000_123; 3]);
    assert_eq!(read.records[2].key, records(3)[2].key);

    // A create-time batch is left exactly as it is.
    let mut plain = built(2, &BatchMeta::default());
    let before = plain.clone();
    let mut checked = check_client_batch(&plain).unwrap();
    stamp_arrival_time(&mut plain, &mut checked, 1);
    assert_eq!(plain, before);
}

#[test]
fn the_stamped_crc_is_the_crc_of_the_stamped_bytes() {
    // The CRC is updated from the changed header bytes alone; it must equal a full
    // computation for any batch length and clock, negative and extreme ones included.
    for n in [1, 2, 7, 300, 2000] {
        for now in [0, 1, -1, 1_800_000_000_123, i64::MIN, i64::MAX] {
            let mut batch = arrival_batch(n);
            let mut checked = check_client_batch(&batch).unwrap();
            stamp_arrival_time(&mut batch, &mut checked, now);
            let stored = u32::from_be_bytes(batch[v2::CRC..v2::CRC + 4].try_into().unwrap());
            assert_eq!(
                stored,
                v2::crc32c(&batch[v2::ATTRIBUTES..]),
                "{n} records at {now}"
            );
        }
    }
}

#[test]
fn a_batch_stamped_on_arrival_with_timestamps_of_its_own_is_refused() {
    // Records with different timestamps under the log-append-time bit: the server would
    // drop them, so the batch is refused instead of silently restamped.
    let meta = BatchMeta {
        attributes: v2::ATTR_LOG_APPEND_TIME,
        ..BatchMeta::default()
    };
    let timed = built(3, &meta);
    let why = refused(&timed);
    assert!(
        why.contains("stamped on arrival") && why.contains("record 2 has 2"),
        "{why}"
    );
}

#[test]
fn records_that_do_not_parse_or_are_misnumbered_are_refused() {
    let records = records(3);
    let mut buf = Vec::new();
    // Offset deltas 0, 2, 3 with a last delta of 2: misnumbered.
    let numbered = [(0u32, &records[0]), (2, &records[1]), (3, &records[2])];
    let meta = BatchMeta {
        producer_id: NO_PRODUCER,
        ..BatchMeta::default()
    };
    v2::encode(&mut buf, numbered.into_iter(), &meta).unwrap();
    let fixed = with_field(buf, v2::LAST_OFFSET_DELTA, &2i32.to_be_bytes());
    assert!(
        refused(&fixed).contains("offset delta"),
        "{}",
        refused(&fixed)
    );

    // A record length running past the batch.
    let good = built(2, &BatchMeta::default());
    let broken = with_field(good, v2::HEADER_LEN, &[0x7e]);
    assert!(
        refused(&broken).contains("record 0"),
        "{}",
        refused(&broken)
    );
}

mod fuzzed {
    use proptest::prelude::*;

    use super::{arrival_batch, built};
    use crate::storage::batch::v2::BatchMeta;
    use crate::storage::batch::{self, BatchFormat};
    use crate::storage::client_batch::{check_client_batch, stamp_arrival_time};

    proptest! {
        /// Any damage to a good batch (flipped bytes anywhere, header fields
        /// included, with or without a matching CRC, or a cut) is refused or leaves a
        /// batch that decodes: the check never panics and never lets through a batch
        /// that readers could not read. An accepted batch stamped on arrival checks
        /// again after its stamp.
        #[test]
        fn a_mangled_batch_is_refused_or_decodes(
            records in 1usize..6,
            on_arrival in any::<bool>(),
            flips in proptest::collection::vec((any::<usize>(), 1u8..=255), 1..4),
            fix_crc in any::<bool>(),
            cut in proptest::option::of(any::<usize>()),
        ) {
            let mut bytes = match on_arrival {
                true => arrival_batch(records),
                false => built(records, &BatchMeta::default()),
            };
            for (at, mask) in flips {
                let at = at % bytes.len();
                bytes[at] ^= mask;
            }
            if fix_crc {
                let crc = crate::storage::batch::v2::crc32c(&bytes[crate::storage::batch::v2::ATTRIBUTES..]);
                let at = crate::storage::batch::v2::CRC;
                bytes[at..at + 4].copy_from_slice(&crc.to_be_bytes());
            }
            if let Some(cut) = cut {
                bytes.truncate(cut % (bytes.len() + 1));
            }
            if let Ok(mut checked) = check_client_batch(&bytes) {
                let header = batch::check(BatchFormat::V2, &bytes, u32::MAX);
                prop_assert!(header.is_ok(), "accepted but does not decode: {header:?}");
                prop_assert_eq!(checked.header.length as usize, bytes.len());
                stamp_arrival_time(&mut bytes, &mut checked, 1_800_000_000_000);
                let again = check_client_batch(&bytes);
                prop_assert!(again.is_ok(), "stamped but refused: {again:?}");
                prop_assert_eq!(again.unwrap().header, checked.header);
            }
        }
    }
}
