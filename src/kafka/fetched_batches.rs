//! Fetched records as Kafka receives them: the stored version-2 batches themselves
//! (they are Kafka's RecordBatch v2 byte for byte; see `storage-format.md`), read by
//! the broker's raw fetch, so a Kafka consumer is served without decoding and
//! re-encoding records. The raw read leaves out control batches (a replica's Raft
//! entries) and batches emptied by compaction, and converts version 1 batches.
//!
//! One field is rewritten: the partition leader epoch, which a replica's batches hold
//! its Raft term in. Metadata reports leader epoch 0 for every partition, so the
//! batches say 0 too, and a client never takes a batch for one from a newer leader than
//! it knows of. The field lies before the CRC's range, so the CRC stays valid.

use bytes::{Bytes, BytesMut};

/// Where a batch's partition leader epoch lies (after base offset and length).
const LEADER_EPOCH: std::ops::Range<usize> = 12..16;
/// Where a batch's length lies; the batch is 12 bytes longer than its value.
const LENGTH: std::ops::Range<usize> = 8..12;

/// The batches of `chunks` (each holding whole batches back to back), `bytes` long in
/// all, as one fetch answer's record set with every leader epoch 0. Shared without a
/// copy when it is one chunk whose epochs are 0 already.
pub fn record_set(chunks: &[Bytes], bytes: usize) -> Bytes {
    if let [only] = chunks
        && batches(only).all(|batch| batch[LEADER_EPOCH] == [0; 4])
    {
        return only.clone();
    }
    let mut out = BytesMut::with_capacity(bytes);
    for chunk in chunks {
        for batch in batches(chunk) {
            let start = out.len();
            out.extend_from_slice(batch);
            out[start + LEADER_EPOCH.start..start + LEADER_EPOCH.end].fill(0);
        }
    }
    out.freeze()
}

/// The whole batches of `chunk`, in order (a truncated tail, which the raw read never
/// returns, is left out).
fn batches(chunk: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = chunk;
    std::iter::from_fn(move || {
        let length = rest.get(LENGTH)?;
        let length = i32::from_be_bytes(length.try_into().ok()?);
        let total = usize::try_from(length).ok()?.checked_add(LENGTH.end)?;
        if total < LEADER_EPOCH.end || total > rest.len() {
            return None;
        }
        let (batch, tail) = rest.split_at(total);
        rest = tail;
        Some(batch)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Record;
    use crate::storage::batch_v2::{self, BatchMeta};

    fn batch(epoch: i32, value: &str) -> Vec<u8> {
        let record = Record {
            key: None,
            value: Some(Bytes::from(value.to_string())),
            headers: Vec::new(),
            timestamp_ms: 1,
        };
        let meta = BatchMeta {
            leader_epoch: epoch,
            ..BatchMeta::default()
        };
        let mut buf = Vec::new();
        batch_v2::encode(&mut buf, [(0, &record)].into_iter(), &meta).expect("encode");
        buf
    }

    #[test]
    fn epochs_become_zero_and_crcs_stay_valid() {
        let first = batch(3, "a");
        let second = batch(0, "b");
        let chunk = Bytes::from([first.clone(), second.clone()].concat());
        let set = record_set(std::slice::from_ref(&chunk), chunk.len());
        assert_eq!(set.len(), chunk.len());
        let back: Vec<&[u8]> = batches(&set).collect();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0][LEADER_EPOCH.clone()], [0; 4]);
        assert_eq!(back[0][LEADER_EPOCH.end..], first[LEADER_EPOCH.end..]);
        assert_eq!(back[1], &second[..]);
        let mut decoding = set.clone();
        let sets = kafka_protocol::records::RecordBatchDecoder::decode_all(&mut decoding)
            .expect("the CRCs still hold");
        assert_eq!(sets.len(), 2);
    }

    #[test]
    fn one_chunk_of_epoch_zero_is_shared_not_copied() {
        let chunk = Bytes::from(batch(0, "a"));
        let set = record_set(std::slice::from_ref(&chunk), chunk.len());
        assert_eq!(set.as_ptr(), chunk.as_ptr());
        assert!(record_set(&[], 0).is_empty());
    }
}
