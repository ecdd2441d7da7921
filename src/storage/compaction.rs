//! Key compaction of a log's sealed segments: keep only the newest record of each
//! key, with offsets and bytes of kept records unchanged (consumers see gaps, never
//! renumbering). Records without a key are kept. A tombstone that is the newest record
//! of its key is kept until it is older than the delete retention, then removed too.
//!
//! Memory is bounded: the key map holds at most `key_map_max_bytes` of keys. When the
//! sealed range has more distinct keys than fit, it is processed in passes: each pass
//! maps the newest offset of the keys in the next stretch of offsets and rewrites the
//! sealed segments, dropping every older record those keys supersede. After the last
//! pass, every record superseded by a newer one in the sealed range is gone.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::api_types::ReadLimits;
use super::batch::RecordView;
use super::error::MaintenanceError;
use super::log::Log;
use super::rewrite::Cancel;

/// How to compact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionConfig {
    /// Most bytes of keys (plus a fixed 32-byte overhead per key) held in memory at once.
    /// Default 64 MiB.
    pub key_map_max_bytes: usize,
    /// How long a tombstone that is the newest record of its key is kept, measured from
    /// its timestamp. Default 24 h.
    pub delete_retention: Duration,
    /// Compact only the sealed segments that end at or below this offset; `None`: every
    /// sealed segment. A replica passes the offset after its last committed entry, so
    /// that entries a new leader may still truncate are never rewritten.
    pub end_offset: Option<u64>,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        CompactionConfig {
            key_map_max_bytes: 64 << 20,
            delete_retention: Duration::from_secs(24 * 3600),
            end_offset: None,
        }
    }
}

/// What a compaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CompactionStats {
    /// Sealed segments before.
    pub segments_before: usize,
    /// Sealed segments after.
    pub segments_after: usize,
    /// Bytes of sealed segments before.
    pub bytes_before: u64,
    /// Bytes of sealed segments after.
    pub bytes_after: u64,
    /// Records removed (tombstones included).
    pub records_removed: u64,
    /// Tombstones removed.
    pub tombstones_removed: u64,
    /// Key-map passes made.
    pub passes: u32,
    /// Wall time taken.
    pub duration: Duration,
}

const KEY_OVERHEAD: usize = 32;

impl Log {
    /// Compacts the sealed segments (the active segment is never touched). Safe to run
    /// while the log is appended to and read; crash-safe (see `rewrite_sealed`).
    pub fn compact(&self, config: CompactionConfig) -> Result<CompactionStats, MaintenanceError> {
        self.compact_cancellable(config, &|| false)
    }

    /// [`Log::compact`], stopping with [`MaintenanceError::Cancelled`] soon after
    /// `cancel` returns true (asked between reads of the key map and before each batch
    /// rewritten). The pass under way is abandoned and leaves the log as it was before
    /// it; passes already committed stay (each leaves a log compacted for its keys).
    pub fn compact_cancellable(
        &self,
        config: CompactionConfig,
        cancel: Cancel<'_>,
    ) -> Result<CompactionStats, MaintenanceError> {
        let started = Instant::now();
        let limit = config.end_offset.unwrap_or(u64::MAX);
        let sealed_end = self.sealed_end_below(limit);
        let mut stats = CompactionStats::default();
        let mut from = self.log_start_offset();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as i64;
        let retention_ms = i64::try_from(config.delete_retention.as_millis()).unwrap_or(i64::MAX);
        let tombstone_horizon = now_ms.saturating_sub(retention_ms);
        let mut first = true;
        while first || from < sealed_end {
            first = false;
            let (map, pass_end) =
                self.key_map(from, sealed_end, config.key_map_max_bytes, cancel)?;
            let mut tombstones = 0;
            let keep = |offset: u64, record: &RecordView<'_>| {
                let Some(key) = record.key else { return true };
                match map.get(key) {
                    Some(newest) if *newest > offset => {
                        tombstones += u64::from(record.value.is_none());
                        false
                    }
                    // A tombstone that is its key's newest record, past the retention:
                    // every older value of the key is dropped in this same pass.
                    Some(newest)
                        if *newest == offset
                            && record.value.is_none()
                            && record.timestamp_ms < tombstone_horizon =>
                    {
                        tombstones += 1;
                        false
                    }
                    _ => true,
                }
            };
            let rewrite = self.rewrite_sealed_below(limit, keep, cancel)?;
            if stats.passes == 0 {
                stats.segments_before = rewrite.segments_before;
                stats.bytes_before = rewrite.bytes_before;
            }
            stats.segments_after = rewrite.segments_after;
            stats.bytes_after = rewrite.bytes_after;
            stats.records_removed += rewrite.records_removed;
            stats.tombstones_removed += tombstones;
            stats.passes += 1;
            from = pass_end;
        }
        stats.duration = started.elapsed();
        tracing::info!(
            log = %self.ident,
            dir = %self.dir.display(),
            segments_before = stats.segments_before,
            segments_after = stats.segments_after,
            bytes_before = stats.bytes_before,
            bytes_after = stats.bytes_after,
            records_removed = stats.records_removed,
            tombstones_removed = stats.tombstones_removed,
            duration = ?stats.duration,
            "compacted"
        );
        Ok(stats)
    }

    /// One past the last offset of the sealed segments that end at or below `limit`.
    fn sealed_end_below(&self, limit: u64) -> u64 {
        self.sealed_below(limit)
            .last()
            .map_or(0, |segment| segment.next_offset())
    }

    /// Maps each key in `[from, end)` to its newest offset, stopping early when the map
    /// would exceed `max_bytes`; returns the map and where it stopped.
    fn key_map(
        &self,
        from: u64,
        end: u64,
        max_bytes: usize,
        cancel: Cancel<'_>,
    ) -> Result<(HashMap<Vec<u8>, u64>, u64), MaintenanceError> {
        let mut map: HashMap<Vec<u8>, u64> = HashMap::new();
        let mut bytes = 0usize;
        let mut next = from;
        while next < end {
            self.unless_cancelled(cancel)?;
            let got = self.read(
                next,
                ReadLimits {
                    max_records: 4096,
                    max_bytes: 4 << 20,
                },
            )?;
            if got.records.is_empty() {
                break;
            }
            for record in got.records.iter().take_while(|r| r.offset < end) {
                if let Some(key) = &record.key {
                    if !map.contains_key(key.as_ref()) {
                        if bytes + key.len() + KEY_OVERHEAD > max_bytes && !map.is_empty() {
                            return Ok((map, record.offset));
                        }
                        bytes += key.len() + KEY_OVERHEAD;
                    }
                    map.insert(key.to_vec(), record.offset);
                }
                next = record.offset + 1;
            }
            next = next.max(got.next_offset.min(end));
        }
        Ok((map, end))
    }
}
