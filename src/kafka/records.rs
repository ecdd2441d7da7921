//! Record batches to broker records and back, through the `kafka-protocol` crate's
//! batch codec (which checks CRCs and handles every compression codec).
//!
//! A produced partition must carry exactly one version-2 batch, as Kafka requires since
//! Produce v3; transactional and control batches are refused (transactions are not
//! supported). Fetches answer with the stored batches themselves (`fetched_batches`);
//! [`encode_fetched`] builds a batch from stored records, for tests and tools.

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record as KafkaRecord, RecordBatchDecoder, RecordBatchEncoder,
    RecordEncodeOptions, TimestampType,
};

use crate::storage::compression::{Codec, decompress};
use crate::storage::producer_state::ProducerBatch;
use crate::storage::{Header, Record, StoredRecord};

/// Most records one produced batch may announce.
pub const MAX_BATCH_RECORDS: i32 = 1_000_000;

/// Most bytes one produced batch may decompress to: a few compressed bytes must not be
/// able to claim gigabytes of memory.
pub const MAX_DECOMPRESSED_BYTES: usize = 128 << 20;

/// One partition's produced batch, converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducedBatch {
    /// The records, in order.
    pub records: Vec<Record>,
    /// The idempotent producer's id, epoch and first sequence, if it is one.
    pub producer: Option<ProducerBatch>,
}

/// Decodes a partition's `records` field of a Produce request. `now_ms` replaces a
/// missing (-1) record timestamp. The error says what is wrong with the batch.
pub fn decode_produced(data: &Bytes, now_ms: i64) -> Result<ProducedBatch, String> {
    let infos = RecordBatchDecoder::decode_batch_info(&mut data.clone())
        .map_err(|err| format!("malformed record batch: {err}"))?;
    let [info] = infos.as_slice() else {
        return Err(format!(
            "a partition needs exactly one version 2 record batch, not {}",
            infos.len()
        ));
    };
    if info.transactional || info.control {
        return Err("transactional and control batches are not supported".into());
    }
    if !(1..=MAX_BATCH_RECORDS).contains(&info.record_count) {
        return Err(format!(
            "a batch must hold 1 to {MAX_BATCH_RECORDS} records, not {}",
            info.record_count
        ));
    }
    let mut input = data.clone();
    let set =
        RecordBatchDecoder::decode_with_custom_compression(&mut input, Some(bounded_decompress))
            .map_err(|err| format!("malformed record batch: {err}"))?;
    if !input.is_empty() {
        return Err(format!("{} bytes after the record batch", input.len()));
    }
    let producer = (info.producer_id >= 0).then_some(ProducerBatch {
        producer_id: info.producer_id,
        epoch: info.producer_epoch,
        base_sequence: info.base_sequence,
    });
    let records = set
        .records
        .into_iter()
        .map(|r| to_broker_record(r, now_ms))
        .collect();
    Ok(ProducedBatch { records, producer })
}

/// Decompresses a batch's records with the storage engine's codecs, which stop at
/// [`MAX_DECOMPRESSED_BYTES`] (the protocol crate's own decompression has no bound).
fn bounded_decompress(input: &mut Bytes, compression: Compression) -> anyhow::Result<Bytes> {
    let codec = match compression {
        Compression::None => return Ok(input.clone()),
        Compression::Gzip => Codec::Gzip,
        Compression::Snappy => Codec::Snappy,
        Compression::Lz4 => Codec::Lz4,
        Compression::Zstd => Codec::Zstd,
    };
    Ok(decompress(codec, input, MAX_DECOMPRESSED_BYTES)?.into())
}

fn to_broker_record(record: KafkaRecord, now_ms: i64) -> Record {
    let headers = record
        .headers
        .into_iter()
        .map(|(key, value)| Header {
            key: key.as_str().to_string(),
            // The broker's header values are never null; Kafka's may be.
            value: value.unwrap_or_default(),
        })
        .collect();
    Record {
        key: record.key,
        value: record.value,
        headers,
        timestamp_ms: if record.timestamp < 0 {
            now_ms
        } else {
            record.timestamp
        },
    }
}

/// Encodes stored records as one uncompressed version-2 batch (empty input: empty
/// output), as a Kafka client would receive them.
pub fn encode_fetched(records: &[StoredRecord]) -> anyhow::Result<Bytes> {
    let Some(first) = records.first() else {
        return Ok(Bytes::new());
    };
    let base = first.offset;
    let converted: Vec<KafkaRecord> = records
        .iter()
        .map(|r| to_kafka_record(r, base))
        .collect::<anyhow::Result<_>>()?;
    let mut out = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut out, &converted, &options)?;
    Ok(out.freeze())
}

fn to_kafka_record(record: &StoredRecord, base: u64) -> anyhow::Result<KafkaRecord> {
    let mut headers = IndexMap::with_capacity(record.headers.len());
    for header in &record.headers {
        headers.insert(
            StrBytes::from_string(header.key.clone()),
            Some(header.value.clone()),
        );
    }
    let delta = i32::try_from(record.offset - base)?;
    Ok(KafkaRecord {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: i64::try_from(record.offset)?,
        // The encoder starts a new batch wherever offset minus sequence changes; this
        // keeps one batch whose base sequence is -1 (no producer).
        sequence: delta - 1,
        timestamp: record.timestamp_ms,
        key: record.key.clone(),
        value: record.value.clone(),
        headers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(offset: u64, key: &str, value: Option<&str>) -> StoredRecord {
        StoredRecord {
            offset,
            timestamp_ms: 1_700_000_000_000 + offset as i64,
            key: Some(Bytes::from(key.to_string())),
            value: value.map(|v| Bytes::from(v.to_string())),
            headers: vec![Header {
                key: "h".into(),
                value: Bytes::from_static(b"v"),
            }],
        }
    }

    #[test]
    fn fetched_records_decode_back_as_produced_ones_with_gaps_kept() {
        let records = vec![stored(5, "a", Some("1")), stored(7, "b", None)];
        let encoded = encode_fetched(&records).expect("encode");
        let decoded = decode_produced(&encoded, 0).expect("decode");
        assert_eq!(decoded.producer, None);
        let expected: Vec<Record> = records
            .iter()
            .map(|r| Record {
                key: r.key.clone(),
                value: r.value.clone(),
                headers: r.headers.clone(),
                timestamp_ms: r.timestamp_ms,
            })
            .collect();
        assert_eq!(decoded.records, expected);
        let sets = RecordBatchDecoder::decode_all(&mut encoded.clone()).expect("sets");
        let offsets: Vec<i64> = sets[0].records.iter().map(|r| r.offset).collect();
        assert_eq!((sets.len(), offsets), (1, vec![5, 7]));
    }

    #[test]
    fn two_batches_for_one_partition_are_refused() {
        let one = encode_fetched(&[stored(0, "a", Some("1"))]).expect("encode");
        let mut two = BytesMut::from(&one[..]);
        two.extend_from_slice(&one);
        let err = decode_produced(&two.freeze(), 0).unwrap_err();
        assert!(err.contains("exactly one"), "{err}");
    }

    #[test]
    fn a_batch_decompressing_past_the_limit_is_refused() {
        let big = StoredRecord {
            value: Some(Bytes::from(vec![0u8; MAX_DECOMPRESSED_BYTES + 1])),
            ..stored(0, "a", None)
        };
        let kafka = to_kafka_record(&big, 0).expect("convert");
        let mut bomb = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: Compression::Zstd,
        };
        RecordBatchEncoder::encode(&mut bomb, [&kafka], &options).expect("encode");
        assert!(bomb.len() < 1 << 20, "zeros compress well");
        let err = decode_produced(&bomb.freeze(), 0).unwrap_err();
        assert!(err.contains("malformed"), "{err}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let err = decode_produced(&Bytes::from_static(&[0xff; 70]), 0);
        assert!(err.is_err());
    }
}
