//! The batch codecs of both formats: golden bytes, round trips, and damage that must
//! always be reported.

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::storage::record::{Header, Record};

const BOTH: [BatchFormat; 2] = [BatchFormat::V1, BatchFormat::V2];

fn sealed_as(format: BatchFormat, records: &[Record], base: u64) -> Vec<u8> {
    let mut buf = Vec::new();
    encode(
        format,
        &mut buf,
        records.iter().enumerate().map(|(i, r)| (i as u32, r)),
    )
    .unwrap();
    seal(format, &mut buf, base);
    buf
}

fn sealed(records: &[Record], base: u64) -> Vec<u8> {
    sealed_as(BatchFormat::V1, records, base)
}

fn decode_all(format: BatchFormat, batch: &[u8], base: u64) -> Vec<crate::storage::StoredRecord> {
    let header = check(format, batch, u32::MAX).unwrap();
    records(format, batch, &header)
        .unwrap()
        .iter()
        .map(|r| r.unwrap().to_stored(base))
        .collect()
}

fn golden_records() -> [Record; 2] {
    [
        Record {
            key: Some(Bytes::from_static(b"k")),
            value: Some(Bytes::from_static(b"v1")),
            headers: vec![Header {
                key: "h".into(),
                value: Bytes::from_static(b"x"),
            }],
            timestamp_ms: 1_700_000_000_000,
        },
        Record {
            key: Some(Bytes::from_static(b"k")),
            value: None,
            headers: vec![],
            timestamp_ms: 1_700_000_000_001,
        },
    ]
}

/// Pins the on-disk encoding of a known version 1 batch byte for byte
/// (`storage-format.md`, "Worked example, version 1"). If this fails, the format
/// changed: bump the version and update the document and its history in the same change.
#[test]
fn golden_bytes() {
    let bytes = sealed(&golden_records(), 5);
    let expected: &[u8] = &[
        // header: crc, length 112, base offset 5, last delta 1, count 2
        0x32, 0x78, 0x1d, 0xea, 0x70, 0x00, 0x00, 0x00, //
        0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
        0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, //
        // first timestamp, max timestamp
        0x00, 0x68, 0xe5, 0xcf, 0x8b, 0x01, 0x00, 0x00, //
        0x01, 0x68, 0xe5, 0xcf, 0x8b, 0x01, 0x00, 0x00, //
        // version 1, attributes 0, reserved 0
        0x01, 0x00, 0x00, 0x00, //
        // record 0: length 35, delta 0, timestamp, key "k", value "v1", 1 header h=x
        0x23, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
        0x00, 0x68, 0xe5, 0xcf, 0x8b, 0x01, 0x00, 0x00, //
        0x01, 0x00, 0x00, 0x00, b'k', //
        0x02, 0x00, 0x00, 0x00, b'v', b'1', //
        0x01, 0x00, 0x00, 0x00, 0x01, 0x00, b'h', 0x01, 0x00, 0x00, 0x00, b'x', //
        // record 1: length 25, delta 1, timestamp, key "k", tombstone, no headers
        0x19, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, //
        0x01, 0x68, 0xe5, 0xcf, 0x8b, 0x01, 0x00, 0x00, //
        0x01, 0x00, 0x00, 0x00, b'k', //
        0xff, 0xff, 0xff, 0xff, //
        0x00, 0x00, 0x00, 0x00, //
    ];
    assert_eq!(bytes, expected, "actual: {bytes:02x?}");
    let header = check(BatchFormat::V1, &bytes, u32::MAX).unwrap();
    assert_eq!(
        (
            header.base_offset,
            header.record_count,
            header.last_offset()
        ),
        (5, 2, 6)
    );
}

#[test]
fn zero_bytes_are_unwritten_space_not_corruption() {
    for format in BOTH {
        assert_eq!(check(format, &[0u8; 100], u32::MAX), Err(BatchFault::Zero));
        assert_eq!(check(format, &[0u8; 10], u32::MAX), Err(BatchFault::Zero));
    }
}

#[test]
fn garbage_length_is_caught() {
    let record = Record {
        value: Some(Bytes::from_static(b"abc")),
        ..Record::default()
    };
    let mut bytes = sealed(std::slice::from_ref(&record), 0);
    let good_len = bytes.len() as u32;
    for bad_len in [good_len - 1, good_len + 1, 1, u32::MAX] {
        bytes[v1::LENGTH..v1::LENGTH + 4].copy_from_slice(&bad_len.to_le_bytes());
        bytes.resize(good_len as usize + 8, 0);
        assert!(
            check(BatchFormat::V1, &bytes, u32::MAX).is_err(),
            "length {bad_len} accepted"
        );
    }
    let mut bytes = sealed_as(BatchFormat::V2, std::slice::from_ref(&record), 0);
    let good = bytes.len() as i32 - v2::LOG_OVERHEAD as i32;
    for bad in [good - 1, good + 1, 1, -1, i32::MAX] {
        bytes[v2::BATCH_LENGTH..v2::BATCH_LENGTH + 4].copy_from_slice(&bad.to_be_bytes());
        bytes.resize(good as usize + v2::LOG_OVERHEAD + 8, 0);
        assert!(
            check(BatchFormat::V2, &bytes, u32::MAX).is_err(),
            "length {bad} accepted"
        );
    }
}

#[test]
fn header_name_over_u16_is_refused() {
    let record = Record {
        headers: vec![Header {
            key: "x".repeat(70_000),
            value: Bytes::new(),
        }],
        ..Record::default()
    };
    for format in BOTH {
        let mut buf = Vec::new();
        let err = encode(format, &mut buf, std::iter::once((0, &record))).unwrap_err();
        assert_eq!(err.index, 0);
        assert!(err.reason.contains("exceeds 65535"), "{}", err.reason);
    }
}

fn arb_record() -> impl Strategy<Value = Record> {
    let bytes = || {
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from))
    };
    let header =
        ("[a-z]{0,8}", proptest::collection::vec(any::<u8>(), 0..16)).prop_map(|(key, value)| {
            Header {
                key,
                value: Bytes::from(value),
            }
        });
    (
        bytes(),
        bytes(),
        proptest::collection::vec(header, 0..3),
        any::<i64>(),
    )
        .prop_map(|(key, value, headers, timestamp_ms)| Record {
            key,
            value,
            headers,
            timestamp_ms,
        })
}

proptest! {
    #[test]
    fn any_batch_round_trips(records in proptest::collection::vec(arb_record(), 1..20), base in 0u64..1 << 60) {
        for format in BOTH {
            let bytes = sealed_as(format, &records, base);
            let header = check(format, &bytes, u32::MAX).unwrap();
            prop_assert_eq!(header.length as usize, bytes.len());
            prop_assert_eq!(header.base_offset, base);
            prop_assert_eq!(header.record_count as usize, records.len());
            prop_assert_eq!(header.max_timestamp, records.iter().map(|r| r.timestamp_ms).max().unwrap());
            let decoded = decode_all(format, &bytes, base);
            for (i, (got, want)) in decoded.iter().zip(&records).enumerate() {
                prop_assert_eq!(got.offset, base + i as u64);
                prop_assert_eq!(&got.key, &want.key);
                prop_assert_eq!(&got.value, &want.value);
                prop_assert_eq!(&got.headers, &want.headers);
                prop_assert_eq!(got.timestamp_ms, want.timestamp_ms);
            }
            prop_assert_eq!(decoded.len(), records.len());
            // Slicing one shared copy of the records yields the same as copying fields.
            let parsed = super::records(format, &bytes, &header).unwrap();
            let shared = Bytes::copy_from_slice(parsed.body());
            let sliced: Vec<_> = parsed.iter().map(|r| r.unwrap().to_stored_shared(base, parsed.body(), &shared)).collect();
            prop_assert_eq!(sliced, decoded);
            if format == BatchFormat::V2 {
                // A record's own size estimate is exact for a batch's first record.
                let first = parsed.iter().next().unwrap().unwrap();
                prop_assert_eq!(first.encoded_len, records[0].encoded_len());
            }
        }
    }

    #[test]
    fn a_flipped_bit_is_always_reported(records in proptest::collection::vec(arb_record(), 1..5), bit in any::<prop::sample::Index>()) {
        let mut bytes = sealed(&records, 42);
        let bit = bit.index(bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(check(BatchFormat::V1, &bytes, u32::MAX).is_err(), "flipped bit {} accepted", bit);
    }

    /// Version 2's CRC leaves out what the server assigns (base offset, leader term):
    /// a flip there changes that field and nothing else; a flip anywhere else is
    /// always reported.
    #[test]
    fn a_flipped_bit_in_version_2_is_reported_or_only_moves_the_assigned_fields(records in proptest::collection::vec(arb_record(), 1..5), bit in any::<prop::sample::Index>()) {
        let good = sealed_as(BatchFormat::V2, &records, 42);
        let mut bytes = good.clone();
        let bit = bit.index(bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        let byte = bit / 8;
        let assigned = byte < v2::BATCH_LENGTH
            || (v2::LEADER_EPOCH..v2::MAGIC_BYTE).contains(&byte);
        match check(BatchFormat::V2, &bytes, u32::MAX) {
            Err(_) => {}
            Ok(header) => {
                prop_assert!(assigned, "flipped bit {} accepted", bit);
                let decoded = decode_all(BatchFormat::V2, &bytes, 42);
                prop_assert_eq!(decoded, decode_all(BatchFormat::V2, &good, 42));
                prop_assert_eq!(header.record_count as usize, records.len());
            }
        }
    }

    #[test]
    fn every_strict_prefix_is_refused(records in proptest::collection::vec(arb_record(), 1..5)) {
        for format in BOTH {
            let bytes = sealed_as(format, &records, 0);
            for cut in 0..bytes.len() {
                prop_assert!(check(format, &bytes[..cut], u32::MAX).is_err());
            }
        }
    }

    #[test]
    fn garbage_is_refused_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        for format in BOTH {
            prop_assert!(check(format, &bytes, u32::MAX).is_err());
        }
    }
}

#[path = "batch_v2_tests.rs"]
mod v2_tests;

#[path = "batch_kafka_tests.rs"]
mod kafka_tests;
