//! A read-only estimate of what compaction would remove (`--dry-run`), with the same
//! rule as the storage engine's compaction: a keyed record goes when a newer record of
//! its key exists in the sealed segments, and a tombstone that is its key's newest
//! record goes once it is older than the delete retention. Nothing is written.
//!
//! Memory is bounded like compaction's: each pass maps at most `key_map_max_bytes` of
//! keys from the next stretch of offsets, then reads on to the end of the sealed range to
//! learn whether each mapped key has a newer record beyond the stretch. Every record is
//! counted in the pass of the stretch that holds it, so none is counted twice.
//!
//! Bytes are the encoded sizes of the removed records; the headers of batches that
//! compaction empties entirely are not counted, so the estimate errs low.

use std::collections::HashMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::storage::{CompactionConfig, CompactionStats, Log, ReadError, ReadLimits, StoredRecord};

/// Bytes charged per mapped key besides the key itself (map entry and counters).
const KEY_OVERHEAD: usize = 64;

/// What is known of one key of the current stretch.
#[derive(Default)]
struct KeyTally {
    records: u64,
    bytes: u64,
    tombstones: u64,
    newest_bytes: u64,
    newest_is_tombstone: bool,
    newest_expired_tombstone: bool,
    newer_after_stretch: bool,
}

impl KeyTally {
    fn removable(&self) -> (u64, u64, u64) {
        if self.newer_after_stretch {
            return (self.records, self.bytes, self.tombstones);
        }
        // The newest stays, unless it is a tombstone past the delete retention.
        let kept = !self.newest_expired_tombstone;
        let records = self.records - u64::from(kept);
        let bytes = self.bytes - if kept { self.newest_bytes } else { 0 };
        let tombstones = self.tombstones - u64::from(kept && self.newest_is_tombstone);
        (records, bytes, tombstones)
    }
}

/// Estimates a compaction of `log`'s sealed segments with `config`.
pub fn estimate(log: &Log, config: CompactionConfig) -> Result<CompactionStats, ReadError> {
    let started = Instant::now();
    let limit = config.end_offset.unwrap_or(u64::MAX);
    let sealed: Vec<_> = log
        .segment_infos()
        .into_iter()
        .take_while(|s| s.sealed && s.next_offset <= limit)
        .collect();
    let mut stats = CompactionStats {
        segments_before: sealed.len(),
        segments_after: sealed.len(),
        bytes_before: sealed.iter().map(|s| s.size_bytes).sum(),
        ..CompactionStats::default()
    };
    let end = sealed.last().map_or(0, |s| s.next_offset);
    let horizon = now_ms()
        .saturating_sub(i64::try_from(config.delete_retention.as_millis()).unwrap_or(i64::MAX));
    let mut from = log.log_start_offset();
    let mut removed_bytes = 0;
    while from < end {
        let mut map: HashMap<Vec<u8>, KeyTally> = HashMap::new();
        let mut map_bytes = 0usize;
        let mut stretch_end = None::<u64>;
        for_each_record(log, from, end, &mut |record| {
            let Some(key) = record.key.as_deref() else {
                return;
            };
            match stretch_end {
                None => {
                    if !map.contains_key(key) {
                        if map_bytes + key.len() + KEY_OVERHEAD > config.key_map_max_bytes
                            && !map.is_empty()
                        {
                            stretch_end = Some(record.offset);
                            return;
                        }
                        map_bytes += key.len() + KEY_OVERHEAD;
                    }
                    let tally = map.entry(key.to_vec()).or_default();
                    let bytes = record.encoded_len() as u64;
                    let tombstone = record.value.is_none();
                    tally.records += 1;
                    tally.bytes += bytes;
                    tally.tombstones += u64::from(tombstone);
                    tally.newest_bytes = bytes;
                    tally.newest_is_tombstone = tombstone;
                    tally.newest_expired_tombstone = tombstone && record.timestamp_ms < horizon;
                }
                Some(_) => {
                    if let Some(tally) = map.get_mut(key) {
                        tally.newer_after_stretch = true;
                    }
                }
            }
        })?;
        for tally in map.values() {
            let (records, bytes, tombstones) = tally.removable();
            stats.records_removed += records;
            stats.tombstones_removed += tombstones;
            removed_bytes += bytes;
        }
        stats.passes += 1;
        from = stretch_end.unwrap_or(end);
    }
    stats.bytes_after = stats.bytes_before.saturating_sub(removed_bytes);
    stats.duration = started.elapsed();
    Ok(stats)
}

/// Calls `visit` for every readable record in `[from, end)`, in offset order.
fn for_each_record(
    log: &Log,
    from: u64,
    end: u64,
    visit: &mut dyn FnMut(&StoredRecord),
) -> Result<(), ReadError> {
    let limits = ReadLimits {
        max_records: 4096,
        max_bytes: 4 << 20,
    };
    let mut next = from;
    while next < end {
        let got = log.read(next, limits)?;
        let Some(last) = got.records.last().map(|r| r.offset) else {
            break;
        };
        got.records
            .iter()
            .take_while(|r| r.offset < end)
            .for_each(&mut *visit);
        next = got.next_offset.max(last + 1);
    }
    Ok(())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;

    use super::*;
    use crate::storage::{FsyncPolicy, LogConfig, LogIdent, Record};

    fn record(key: &str, value: Option<&str>, timestamp_ms: i64) -> Record {
        Record {
            key: Some(Bytes::copy_from_slice(key.as_bytes())),
            value: value.map(|v| Bytes::copy_from_slice(v.as_bytes())),
            headers: vec![],
            timestamp_ms,
        }
    }

    /// The estimate matches what compaction then does, in one pass and in many.
    #[test]
    fn the_estimate_matches_the_compaction() {
        // 150 bytes hold a few keys only: several passes over the runs of keys below.
        for key_map_max_bytes in [1 << 20, 150] {
            let dir = tempfile::tempdir().unwrap();
            let config = LogConfig {
                segment_bytes: 1 << 20,
                fsync: FsyncPolicy::Never,
                ..LogConfig::default()
            };
            let log = Log::open(dir.path(), LogIdent::new("t", 0), config).unwrap();
            let value = "v".repeat(1000);
            for round in 0..1_500u32 {
                // Runs of one key, cycling through 8 keys, then a few stray updates.
                let key = format!("k{}", (round / 100 + round % 3) % 8);
                let value = (round % 7 != 0).then_some(value.as_str());
                let ts = if round % 2 == 0 { 1_000 } else { i64::MAX / 2 };
                log.append(&[record(&key, value, ts)]).unwrap();
            }
            assert!(
                log.segment_infos().len() > 1,
                "the test needs sealed segments"
            );
            let config = CompactionConfig {
                key_map_max_bytes,
                delete_retention: Duration::from_secs(3600),
                end_offset: None,
            };
            let estimated = estimate(&log, config).unwrap();
            let done = log.compact(config).unwrap();
            assert_eq!(estimated.records_removed, done.records_removed);
            assert_eq!(estimated.tombstones_removed, done.tombstones_removed);
            assert_eq!(estimated.bytes_before, done.bytes_before);
            assert!(
                estimated.bytes_after >= done.bytes_after,
                "{estimated:?} {done:?}"
            );
            assert!(estimated.passes >= 1);
            assert!(key_map_max_bytes > 1000 || estimated.passes > 1);
        }
    }
}
