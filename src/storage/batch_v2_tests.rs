//! Version 2 batches: the golden bytes, and what Kafka's layout adds (empty batches,
//! append-time timestamps, control batches, producer fields, int64 offsets).

use super::*;
use crate::storage::batch::v2::{self as kafka, BatchMeta};

/// Pins the on-disk encoding of a known version 2 batch byte for byte
/// (`storage-format.md`, "Worked example, version 2"): Kafka's RecordBatch v2.
#[test]
fn golden_bytes_v2() {
    let bytes = sealed_as(BatchFormat::V2, &golden_records(), 5);
    let expected: &[u8] = &[
        // base offset 5, batch length 71, leader epoch 0, magic 2
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x47, //
        0x00, 0x00, 0x00, 0x00, 0x02, //
        // CRC-32C of everything after it, attributes 0, last offset delta 1
        0x6d, 0xcf, 0xf0, 0x7e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, //
        // base timestamp, max timestamp
        0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, //
        0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x01, //
        // producer id -1, producer epoch -1, base sequence -1, 2 records
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, //
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x02, //
        // record 0: length 13, attributes, ts delta 0, offset delta 0, key "k",
        // value "v1", 1 header h=x (all varints zigzag: 1 is 0x02)
        0x1a, 0x00, 0x00, 0x00, 0x02, b'k', 0x04, b'v', b'1', //
        0x02, 0x02, b'h', 0x02, b'x', //
        // record 1: length 7, attributes, ts delta 1, offset delta 1, key "k",
        // null value (-1 is 0x01), 0 headers
        0x0e, 0x00, 0x02, 0x02, 0x02, b'k', 0x01, 0x00, //
    ];
    assert_eq!(bytes, expected, "actual: {bytes:02x?}");
    let header = check(BatchFormat::V2, &bytes, u32::MAX).unwrap();
    assert_eq!(
        (
            header.base_offset,
            header.record_count,
            header.last_offset()
        ),
        (5, 2, 6)
    );
    assert_eq!(
        (
            header.producer_id,
            header.producer_epoch,
            header.base_sequence
        ),
        (NO_PRODUCER, -1, -1)
    );
    let decoded = decode_all(BatchFormat::V2, &bytes, 5);
    assert_eq!(decoded[1].timestamp_ms, 1_700_000_000_001);
    assert_eq!(decoded[1].value, None);
}

fn meta() -> BatchMeta {
    BatchMeta {
        leader_epoch: 7,
        producer_id: 1234,
        producer_epoch: 3,
        base_sequence: 40,
        ..BatchMeta::default()
    }
}

#[test]
fn producer_fields_and_the_leader_term_round_trip_and_the_term_is_outside_the_crc() {
    let records = golden_records();
    let mut buf = Vec::new();
    kafka::encode(
        &mut buf,
        records.iter().enumerate().map(|(i, r)| (i as u32, r)),
        &meta(),
    )
    .unwrap();
    seal(BatchFormat::V2, &mut buf, 9);
    let header = check(BatchFormat::V2, &buf, u32::MAX).unwrap();
    assert_eq!(
        (
            header.leader_epoch,
            header.producer_id,
            header.producer_epoch,
            header.base_sequence
        ),
        (7, 1234, 3, 40)
    );
    // The server stamps its term without recomputing the checksum.
    kafka::stamp_leader_epoch(&mut buf, 8);
    assert_eq!(
        check(BatchFormat::V2, &buf, u32::MAX).unwrap().leader_epoch,
        8
    );
}

#[test]
fn a_batch_emptied_by_compaction_keeps_its_header_and_holds_no_records() {
    let original = sealed_as(BatchFormat::V2, &golden_records(), 5);
    let header = check(BatchFormat::V2, &original, u32::MAX).unwrap();
    let mut empty = Vec::new();
    kafka::encode(&mut empty, std::iter::empty(), &BatchMeta::of(&header)).unwrap();
    seal(BatchFormat::V2, &mut empty, 5);
    assert_eq!(empty.len(), kafka::HEADER_LEN);
    let kept = check(BatchFormat::V2, &empty, u32::MAX).unwrap();
    assert_eq!(kept.record_count, 0);
    assert_eq!((kept.base_offset, kept.next_offset()), (5, 7));
    assert_eq!(
        (kept.first_timestamp, kept.max_timestamp),
        (header.first_timestamp, header.max_timestamp)
    );
    assert!(decode_all(BatchFormat::V2, &empty, 5).is_empty());
}

/// The golden records encoded with `meta`, sealed at offset 0.
fn golden_with(meta: &BatchMeta) -> Vec<u8> {
    let mut buf = Vec::new();
    let records = golden_records();
    let numbered = records.iter().enumerate().map(|(i, r)| (i as u32, r));
    kafka::encode(&mut buf, numbered, meta).unwrap();
    seal(BatchFormat::V2, &mut buf, 0);
    buf
}

#[test]
fn append_time_batches_give_every_record_the_max_timestamp() {
    let buf = golden_with(&BatchMeta {
        attributes: kafka::ATTR_LOG_APPEND_TIME,
        ..BatchMeta::default()
    });
    let decoded = decode_all(BatchFormat::V2, &buf, 0);
    assert!(decoded.iter().all(|r| r.timestamp_ms == 1_700_000_000_001));
}

#[test]
fn control_batches_are_marked() {
    let buf = golden_with(&BatchMeta {
        attributes: kafka::ATTR_CONTROL | kafka::ATTR_TRANSACTIONAL,
        ..BatchMeta::default()
    });
    assert!(check(BatchFormat::V2, &buf, u32::MAX).unwrap().is_control());
}

/// Rewrites header bytes at `at` and recomputes the CRC, as a faulty writer would.
fn with_field(batch: &[u8], at: usize, bytes: &[u8]) -> Vec<u8> {
    let mut out = batch.to_vec();
    out[at..at + bytes.len()].copy_from_slice(bytes);
    let crc = kafka::crc32c(&out[kafka::ATTRIBUTES..]);
    out[kafka::CRC..kafka::CRC + 4].copy_from_slice(&crc.to_be_bytes());
    out
}

#[test]
fn impossible_headers_are_refused_even_with_a_valid_crc() {
    let good = sealed_as(BatchFormat::V2, &golden_records(), 5);
    let cases: [(&str, usize, Vec<u8>); 6] = [
        ("magic 1", kafka::MAGIC_BYTE, vec![1]),
        (
            "unknown attribute bit",
            kafka::ATTRIBUTES,
            0x0080u16.to_be_bytes().to_vec(),
        ),
        ("codec 5", kafka::ATTRIBUTES, 5u16.to_be_bytes().to_vec()),
        (
            "negative record count",
            kafka::RECORD_COUNT,
            (-1i32).to_be_bytes().to_vec(),
        ),
        (
            "more records than offsets",
            kafka::RECORD_COUNT,
            3i32.to_be_bytes().to_vec(),
        ),
        (
            "negative base offset",
            kafka::BASE_OFFSET,
            (-5i64).to_be_bytes().to_vec(),
        ),
    ];
    for (what, at, bytes) in cases {
        let bad = with_field(&good, at, &bytes);
        assert!(
            check(BatchFormat::V2, &bad, u32::MAX).is_err(),
            "{what} accepted"
        );
    }
}

#[test]
fn offsets_past_kafkas_int64_are_refused_at_seal() {
    let mut buf = Vec::new();
    encode(
        BatchFormat::V2,
        &mut buf,
        golden_records()
            .iter()
            .enumerate()
            .map(|(i, r)| (i as u32, r)),
    )
    .unwrap();
    assert!(seal_checked(BatchFormat::V2, &mut buf, kafka::MAX_OFFSET - 2).is_some());
    assert!(seal_checked(BatchFormat::V2, &mut buf, kafka::MAX_OFFSET - 1).is_none());
}

#[test]
fn a_null_header_value_from_a_kafka_client_reads_as_empty() {
    // One record: no key, value "v", one header "h" with a null value.
    let mut record = vec![0u8, 0, 0, 0x01, 0x02, b'v', 0x02, 0x02, b'h', 0x01];
    record.insert(0, (record.len() as u8) << 1);
    let mut buf = vec![0u8; kafka::HEADER_LEN];
    buf.extend_from_slice(&record);
    let length = (buf.len() - kafka::LOG_OVERHEAD) as i32;
    buf[kafka::BATCH_LENGTH..kafka::BATCH_LENGTH + 4].copy_from_slice(&length.to_be_bytes());
    buf[kafka::MAGIC_BYTE] = kafka::MAGIC;
    buf[kafka::RECORD_COUNT..kafka::RECORD_COUNT + 4].copy_from_slice(&1i32.to_be_bytes());
    let buf = with_field(&buf, kafka::PRODUCER_ID, &(-1i64).to_be_bytes());
    let decoded = decode_all(BatchFormat::V2, &buf, 0);
    assert_eq!(decoded.len(), 1);
    assert_eq!(decoded[0].headers[0].key, "h");
    assert!(decoded[0].headers[0].value.is_empty());
    assert_eq!(decoded[0].key, None);
}

#[test]
fn the_batch_checksum_is_crc_32c() {
    // The standard check value of CRC-32C (Castagnoli).
    assert_eq!(kafka::crc32c(b"123456789"), 0xe306_9283);
}
