//! Which partition a record goes to: the explicit partition, else a hash of the key,
//! else round-robin.
//!
//! Keys are hashed with murmur2 (seed `0x9747b28c`) and placed at
//! `(hash & 0x7fffffff) % partitions`, exactly as Kafka's default partitioner does, so a
//! key lands in the same partition here as in a Kafka topic of the same size, and the
//! placement never changes between versions or restarts (it is part of the API).

use std::sync::atomic::{AtomicU32, Ordering};

/// Places keyed records by hash and keyless records round-robin over `partitions`.
#[derive(Debug)]
pub struct Partitioner {
    partitions: u32,
    next_keyless: AtomicU32,
}

impl Partitioner {
    /// A partitioner over `partitions` partitions (at least 1).
    pub fn new(partitions: u32) -> Partitioner {
        Partitioner {
            partitions: partitions.max(1),
            next_keyless: AtomicU32::new(0),
        }
    }

    /// The partition for a record with `key`.
    pub fn partition_for(&self, key: Option<&[u8]>) -> u32 {
        match key {
            Some(key) => partition_for_key(key, self.partitions),
            None => self.next_keyless.fetch_add(1, Ordering::Relaxed) % self.partitions,
        }
    }
}

/// The partition of `key` among `partitions` partitions (Kafka-compatible).
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    (murmur2(key) & 0x7fff_ffff) % partitions.max(1)
}

/// MurmurHash2, 32-bit, as used by Kafka (`org.apache.kafka.common.utils.Utils.murmur2`).
pub fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // Kafka computes `seed ^ length` on a 32-bit int; keys longer than 4 GiB cannot be
    // produced (batches are far smaller), so the truncation never applies.
    let mut h = SEED ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if let Some(&first) = tail.first() {
        h ^= u32::from(first);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors from Kafka's own test of `Utils.murmur2` (as signed 32-bit integers).
    #[test]
    fn matches_kafka_murmur2() {
        let cases: [(&str, i32); 6] = [
            ("21", -973932308),
            ("foobar", -790332482),
            ("a-little-bit-long-string", -985981536),
            ("a-little-bit-longer-string", -1486304829),
            (
                "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            ("abc", 479470107),
        ];
        for (key, expected) in cases {
            assert_eq!(murmur2(key.as_bytes()) as i32, expected, "key {key:?}");
        }
    }

    #[test]
    fn keyless_records_rotate_over_partitions() {
        let partitioner = Partitioner::new(3);
        let placed: Vec<u32> = (0..6).map(|_| partitioner.partition_for(None)).collect();
        assert_eq!(placed, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn keyed_placement_is_stable() {
        let partitioner = Partitioner::new(8);
        for key in [&b"user-1"[..], b"", b"\xff\x00"] {
            let first = partitioner.partition_for(Some(key));
            assert_eq!(partitioner.partition_for(Some(key)), first);
            assert_eq!(first, partition_for_key(key, 8));
        }
    }
}
