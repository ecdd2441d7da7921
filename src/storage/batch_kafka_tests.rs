//! Version 2 batches are Kafka's RecordBatch v2: a Kafka client library (the
//! `kafka-protocol` crate) decodes what eventlog stores, and eventlog reads what that
//! library encodes, field for field.

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record as KafkaRecord, RecordBatchDecoder, RecordBatchEncoder,
    RecordEncodeOptions, TimestampType,
};
use proptest::prelude::*;

use super::*;
use crate::storage::batch::v2::BatchMeta;
use crate::storage::record::{Header, Record};

fn arb_records() -> impl Strategy<Value = Vec<Record>> {
    let bytes = || {
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300).prop_map(Bytes::from))
    };
    let record = (
        bytes(),
        bytes(),
        proptest::collection::vec(any::<u8>(), 0..20),
        0i64..4_000_000_000_000,
    )
        .prop_map(|(key, value, header, timestamp_ms)| Record {
            key,
            value,
            // Kafka client libraries keep headers in a map: unique names.
            headers: vec![Header {
                key: "trace".into(),
                value: Bytes::from(header),
            }],
            timestamp_ms,
        });
    proptest::collection::vec(record, 1..30)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_kafka_library_decodes_what_eventlog_stores(records in arb_records(), base in 0u64..1 << 40) {
        let meta = BatchMeta {
            leader_epoch: 3,
            producer_id: 77,
            producer_epoch: 2,
            base_sequence: 1000,
            ..BatchMeta::default()
        };
        let mut buf = Vec::new();
        v2::encode(&mut buf, records.iter().enumerate().map(|(i, r)| (i as u32, r)), &meta).unwrap();
        seal(BatchFormat::V2, &mut buf, base);
        let set = RecordBatchDecoder::decode(&mut Bytes::from(buf)).unwrap();
        prop_assert_eq!(set.version, 2);
        prop_assert_eq!(set.records.len(), records.len());
        for (i, (theirs, ours)) in set.records.iter().zip(&records).enumerate() {
            prop_assert_eq!(theirs.offset, (base + i as u64) as i64);
            prop_assert_eq!(theirs.timestamp, ours.timestamp_ms);
            prop_assert_eq!(theirs.timestamp_type, TimestampType::Creation);
            prop_assert_eq!(&theirs.key, &ours.key);
            prop_assert_eq!(&theirs.value, &ours.value);
            let trace = theirs.headers.iter().find(|(name, _)| &***name == "trace").and_then(|(_, v)| v.clone());
            prop_assert_eq!(trace, Some(ours.headers[0].value.clone()));
            prop_assert_eq!((theirs.producer_id, theirs.producer_epoch, theirs.sequence), (77, 2, 1000 + i as i32));
            prop_assert_eq!(theirs.partition_leader_epoch, 3);
        }
    }

    #[test]
    fn eventlog_reads_what_a_kafka_library_encodes(records in arb_records(), base in 0i64..1 << 40, codec in 0usize..5) {
        let compression = [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd][codec];
        let theirs: Vec<KafkaRecord> = records
            .iter()
            .enumerate()
            .map(|(i, r)| KafkaRecord {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 5,
                producer_id: 12,
                producer_epoch: 1,
                timestamp_type: TimestampType::Creation,
                offset: base + i as i64,
                sequence: 40 + i as i32,
                timestamp: r.timestamp_ms,
                key: r.key.clone(),
                value: r.value.clone(),
                headers: r
                    .headers
                    .iter()
                    .map(|h| (StrBytes::from_string(h.key.clone()), Some(h.value.clone())))
                    .collect::<IndexMap<_, _>>(),
            })
            .collect();
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions { version: 2, compression };
        RecordBatchEncoder::encode(&mut buf, &theirs, &options).unwrap();
        let header = check(BatchFormat::V2, &buf, u32::MAX).unwrap();
        prop_assert_eq!(header.length as usize, buf.len());
        prop_assert_eq!((header.base_offset, header.record_count), (base as u64, records.len() as u32));
        prop_assert_eq!((header.producer_id, header.producer_epoch, header.base_sequence, header.leader_epoch), (12, 1, 40, 5));
        prop_assert_eq!(header.codec_bits(), compression as u16);
        let decoded = decode_all(BatchFormat::V2, &buf, header.base_offset);
        prop_assert_eq!(decoded.len(), records.len());
        for (i, (got, want)) in decoded.iter().zip(&records).enumerate() {
            prop_assert_eq!(got.offset, base as u64 + i as u64);
            prop_assert_eq!((&got.key, &got.value, &got.headers, got.timestamp_ms), (&want.key, &want.value, &want.headers, want.timestamp_ms));
        }
    }
}
