//! Compressed version 2 batches, as Kafka clients produce them, stored as they are: a
//! log recovers them, reads them (also from an offset inside one), and compaction keeps
//! the records it should.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record as KafkaRecord, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use crate::storage::{Log, LogConfig, LogIdent, ReadLimits, Record};

fn kafka_batch(base: i64, n: i64, compression: Compression) -> BytesMut {
    let records: Vec<KafkaRecord> = (0..n)
        .map(|i| KafkaRecord {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: base + i,
            sequence: -1,
            timestamp: 1_700_000_000_000 + i,
            key: Some(Bytes::from(format!("k{}", i % 3))),
            value: Some(Bytes::from(format!("value {i} ").repeat(20))),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();
    buf
}

fn values(log: &Log, from: u64) -> Vec<(u64, String)> {
    log.read(from, ReadLimits::default())
        .unwrap()
        .records
        .iter()
        .map(|r| {
            (
                r.offset,
                String::from_utf8_lossy(r.value.as_deref().unwrap()).into_owned(),
            )
        })
        .collect()
}

#[test]
fn a_compressed_batch_recovers_reads_and_compacts() {
    for compression in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig::small();
        let log = Log::open(dir.path(), LogIdent::new("t", 0), config.clone()).unwrap();
        drop(log);
        // As if a raw-batch producer had appended it: stored exactly as encoded.
        let batch = kafka_batch(0, 9, compression);
        let segment = dir.path().join("00000000000000000000.log");
        std::os::unix::fs::FileExt::write_all_at(
            &std::fs::OpenOptions::new()
                .write(true)
                .open(&segment)
                .unwrap(),
            &batch,
            16,
        )
        .unwrap();
        let log = Log::open(dir.path(), LogIdent::new("t", 0), config.clone()).unwrap();
        assert_eq!(log.high_watermark(), 9, "{compression:?}");
        let all = values(&log, 0);
        assert_eq!(all.len(), 9);
        assert_eq!(all[4], (4, "value 4 ".repeat(20)));
        // From an offset inside the batch: the records before it are skipped.
        assert_eq!(values(&log, 6).first().map(|(o, _)| *o), Some(6));
        let stored = std::fs::read(&segment).unwrap();
        assert_eq!(
            &stored[16..16 + batch.len()],
            &batch[..],
            "stored as produced"
        );

        log.append(&[Record {
            key: Some(Bytes::from_static(b"k0")),
            value: Some(Bytes::from_static(b"newest k0")),
            ..Record::default()
        }])
        .unwrap();
        log.roll().unwrap();
        log.compact(crate::storage::CompactionConfig::default())
            .unwrap();
        let kept: Vec<u64> = values(&log, 0).iter().map(|(o, _)| *o).collect();
        // k1 and k2 keep their newest records (7, 8); k0's newest is offset 9.
        assert_eq!(kept, [7, 8, 9], "{compression:?}");
    }
}
