//! Idempotent producers: what a partition remembers of each producer so that a retried
//! batch is recognised instead of appended twice (Kafka's producer state).
//!
//! Each batch an idempotent producer appends carries its producer id, epoch and the
//! sequence number of its first record (batch format version 2). Per producer the
//! table keeps its epoch, the last [`KEPT_BATCHES`] batches (their sequence range and
//! offsets) and when it last appended. A new batch is:
//! - **appended** when its sequence continues the last one (`last + 1`, wrapping after
//!   `i32::MAX` to 0), when its epoch is newer than the one known and it starts at 0,
//!   or when the producer is unknown to this partition (never seen, or expired);
//! - a **duplicate** when it matches one of the kept batches exactly (same epoch, first
//!   and last sequence): the caller answers with that batch's original offsets;
//! - refused as **out of order** (a gap, or an old batch no longer kept), or as
//!   **fenced** when its epoch is older than the one known.
//!
//! A producer unknown here may start at any sequence: its state may have expired, and
//! refusing it (Kafka's `UNKNOWN_PRODUCER_ID`, KAFKA-7190) would fail a healthy
//! producer whose last batch retention removed. Retention and compaction never remove
//! state here; only expiry does, after `producer_id_expiration` without an append.

use std::collections::{HashMap, VecDeque};

/// How many recent batches per producer are recognised as duplicates (Kafka's 5, the
/// most a producer may have in flight).
pub const KEPT_BATCHES: usize = 5;

/// One batch of a producer: its sequence range and where it landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequencedBatch {
    /// Sequence of the first record.
    pub first_sequence: i32,
    /// Sequence of the last record.
    pub last_sequence: i32,
    /// Offset of the first record.
    pub base_offset: u64,
    /// Offset of the last record.
    pub last_offset: u64,
}

/// What a partition knows of one producer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerEntry {
    /// The newest epoch seen.
    pub epoch: i16,
    /// The last batches appended in that epoch, oldest first.
    pub batches: VecDeque<SequencedBatch>,
    /// When it last appended (ms since the epoch): expiry counts from here.
    pub last_append_ms: i64,
}

/// The producer fields of a batch to append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerBatch {
    /// Producer id (never negative).
    pub producer_id: i64,
    /// Producer epoch.
    pub epoch: i16,
    /// Sequence of the batch's first record.
    pub base_sequence: i32,
}

impl ProducerBatch {
    /// Sequence of the last record of a batch of `count` records.
    pub fn last_sequence(&self, count: u32) -> i32 {
        next_sequence(self.base_sequence, count.saturating_sub(1))
    }
}

/// The sequence `n` records after `sequence` (wrapping after `i32::MAX` to 0, as Kafka).
pub fn next_sequence(sequence: i32, n: u32) -> i32 {
    ((i64::from(sequence) + i64::from(n)) % (i64::from(i32::MAX) + 1)) as i32
}

/// The verdict on a producer's batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceVerdict {
    /// Append it.
    Append,
    /// Already appended, at these offsets.
    Duplicate(SequencedBatch),
}

/// Why a producer's batch is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum SequenceError {
    /// The batch's sequence does not continue the producer's last batch.
    #[error(
        "producer {producer_id} epoch {epoch}: sequence {got} is out of order, {expected} expected"
    )]
    OutOfOrder {
        /// The producer.
        producer_id: i64,
        /// Its epoch.
        epoch: i16,
        /// The batch's first sequence.
        got: i32,
        /// The sequence the next batch must start at.
        expected: i32,
    },
    /// A newer epoch of this producer appended already: this instance was fenced.
    #[error("producer {producer_id} epoch {got} was fenced by epoch {current}")]
    Fenced {
        /// The producer.
        producer_id: i64,
        /// The batch's epoch.
        got: i16,
        /// The newest epoch known.
        current: i16,
    },
    /// The partition tracks as many producers as it may; none has expired.
    #[error(
        "the partition tracks {limit} producers, its limit; idle producers expire after {expiration_ms} ms"
    )]
    TooManyProducers {
        /// The limit.
        limit: usize,
        /// How long an idle producer is kept.
        expiration_ms: i64,
    },
}

/// The producers of one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerStateTable {
    entries: HashMap<i64, ProducerEntry>,
}

/// Limits of a producer state table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerLimits {
    /// Most producers tracked at once.
    pub max_producers: usize,
    /// How long a producer is kept after its last append, in ms.
    pub expiration_ms: i64,
}

impl Default for ProducerLimits {
    fn default() -> Self {
        ProducerLimits {
            max_producers: 10_000,
            expiration_ms: 24 * 60 * 60 * 1000,
        }
    }
}

impl ProducerStateTable {
    /// A table holding `entries`.
    pub fn from_entries(entries: HashMap<i64, ProducerEntry>) -> Self {
        ProducerStateTable { entries }
    }

    /// Every producer tracked.
    pub fn entries(&self) -> &HashMap<i64, ProducerEntry> {
        &self.entries
    }

    /// What the partition knows of `producer_id`.
    pub fn get(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.entries.get(&producer_id)
    }

    /// Judges a batch of `count` records from `batch`'s producer, at `now_ms`.
    pub fn check(
        &mut self,
        batch: &ProducerBatch,
        count: u32,
        now_ms: i64,
        limits: ProducerLimits,
    ) -> Result<SequenceVerdict, SequenceError> {
        let Some(entry) = self.entries.get(&batch.producer_id) else {
            if self.entries.len() >= limits.max_producers {
                self.expire(now_ms, limits.expiration_ms);
                if self.entries.len() >= limits.max_producers {
                    return Err(SequenceError::TooManyProducers {
                        limit: limits.max_producers,
                        expiration_ms: limits.expiration_ms,
                    });
                }
            }
            return Ok(SequenceVerdict::Append);
        };
        let out_of_order = |expected| SequenceError::OutOfOrder {
            producer_id: batch.producer_id,
            epoch: batch.epoch,
            got: batch.base_sequence,
            expected,
        };
        if batch.epoch < entry.epoch {
            return Err(SequenceError::Fenced {
                producer_id: batch.producer_id,
                got: batch.epoch,
                current: entry.epoch,
            });
        }
        if batch.epoch > entry.epoch {
            // A new instance of the producer starts its sequences again.
            return match batch.base_sequence {
                0 => Ok(SequenceVerdict::Append),
                _ => Err(out_of_order(0)),
            };
        }
        let last_sequence = batch.last_sequence(count);
        if let Some(done) = entry
            .batches
            .iter()
            .find(|b| b.first_sequence == batch.base_sequence && b.last_sequence == last_sequence)
        {
            return Ok(SequenceVerdict::Duplicate(*done));
        }
        let expected = entry.batches.back().map_or(batch.base_sequence, |last| {
            next_sequence(last.last_sequence, 1)
        });
        if batch.base_sequence == expected {
            Ok(SequenceVerdict::Append)
        } else {
            Err(out_of_order(expected))
        }
    }

    /// Records a batch appended at `base_offset..=last_offset` (after [`Self::check`]
    /// said to append it, or while replaying the log).
    pub fn record(
        &mut self,
        batch: &ProducerBatch,
        count: u32,
        base_offset: u64,
        last_offset: u64,
        now_ms: i64,
    ) {
        let entry = self
            .entries
            .entry(batch.producer_id)
            .or_insert_with(|| ProducerEntry {
                epoch: batch.epoch,
                batches: VecDeque::new(),
                last_append_ms: now_ms,
            });
        if batch.epoch != entry.epoch {
            entry.epoch = batch.epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == KEPT_BATCHES {
            entry.batches.pop_front();
        }
        entry.batches.push_back(SequencedBatch {
            first_sequence: batch.base_sequence,
            last_sequence: batch.last_sequence(count),
            base_offset,
            last_offset,
        });
        entry.last_append_ms = entry.last_append_ms.max(now_ms);
    }

    /// Forgets producers that have not appended for `expiration_ms` before `now_ms`.
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) {
        self.entries
            .retain(|_, e| now_ms.saturating_sub(e.last_append_ms) < expiration_ms);
    }

    /// Forgets every batch at or after `offset` (a truncation), and producers left with
    /// none.
    pub fn truncate(&mut self, offset: u64) {
        for entry in self.entries.values_mut() {
            entry.batches.retain(|b| b.last_offset < offset);
        }
        self.entries.retain(|_, e| !e.batches.is_empty());
    }
}

#[cfg(test)]
#[path = "producer_state_tests.rs"]
mod tests;
