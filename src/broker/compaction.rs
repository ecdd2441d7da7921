//! Key compaction of the partitions of COMPACT topics: in the background once a
//! partition's dirty ratio reaches the topic's threshold, and on demand (`CompactTopic`,
//! `eventlog compact`). The storage engine does the work ([`Log::compact`]); this module
//! decides when, keeps the clean mark (see [`super::clean_mark`]) and serializes it with
//! retention through the partition's maintenance lock.
//!
//! A replica compacts its own copy of its group's log, as Kafka's replicas do, and
//! only below its commit watermark: entries above it may still be truncated by a new
//! leader, and a record must not be removed for a newer one that may never commit.
//! Compaction keeps every batch (emptied ones too) at its offsets, so the Raft
//! numbering of the log's batches is unchanged; control batches stay whole.
//!
//! Compaction runs on the cleaner thread or the blocking pool, never on an async worker;
//! appends and reads go on meanwhile (the storage engine takes its writer lock only for
//! the final swap). It stops early, leaving the log as before its pass under way, once
//! the partition starts closing (topic deletion, shutdown) or the cleaner is stopped:
//! closing then waits for one batch at most, not for the whole compaction.

use std::time::{Duration, Instant};

use super::clean_mark::CleanMark;
use super::compaction_estimate;
use super::error::BrokerError;
use super::partition::Partition;
use super::topic_config::TopicConfig;
use crate::storage::{
    Cancel, CompactionConfig, CompactionStats, Log, MaintenanceError, SegmentInfo,
};

/// How long background compaction leaves a partition alone after a failure, so a
/// damaged segment is reported once a while rather than on every check.
const RETRY_BACKOFF: Duration = Duration::from_secs(60);

/// The storage settings of a compaction of a topic with `config`, of the sealed
/// segments that end at or below `end_offset` (all with `None`).
pub fn compaction_config(config: &TopicConfig, end_offset: Option<u64>) -> CompactionConfig {
    CompactionConfig {
        delete_retention: config.delete_retention(),
        end_offset,
        ..CompactionConfig::default()
    }
}

/// Sealed bytes not yet covered by a compaction (segments reaching above the clean mark),
/// and all sealed bytes.
pub fn dirty_bytes(segments: &[SegmentInfo], cleaned_to: u64) -> (u64, u64) {
    segments
        .iter()
        .filter(|s| s.sealed)
        .fold((0, 0), |(dirty, total), s| {
            let is_dirty = s.next_offset > cleaned_to;
            (
                dirty + if is_dirty { s.size_bytes } else { 0 },
                total + s.size_bytes,
            )
        })
}

/// Compacts one partition now, waiting for any retention or compaction under way.
pub fn compact(
    partition: &Partition,
    config: &TopicConfig,
) -> Result<CompactionStats, BrokerError> {
    let mut mark = partition.maintenance();
    run(partition, &mut mark, config, &|| false)
}

/// Background check: compacts the partition if its dirty ratio reached the topic's
/// threshold. Skips a partition whose maintenance is busy or that failed recently.
/// Stops early when `stop` says so (the cleaner is stopping).
pub fn compact_if_dirty(
    partition: &Partition,
    config: &TopicConfig,
    stop: Cancel<'_>,
) -> Result<Option<CompactionStats>, BrokerError> {
    let Some(mut mark) = partition.try_maintenance() else {
        return Ok(None);
    };
    if mark.retry_after.is_some_and(|at| Instant::now() < at) {
        return Ok(None);
    }
    let (dirty, total) =
        partition.with_log(|log| dirty_bytes(&log.segment_infos(), mark.cleaned_to))?;
    // Strictly above, as Kafka does: a ratio of 1.0 leaves compaction to on-demand runs.
    if dirty == 0 || (dirty as f64) <= config.dirty_ratio().get() * total as f64 {
        return Ok(None);
    }
    tracing::debug!(partition = %partition.ident(), dirty, total, "dirty ratio reached; compacting");
    match run(partition, &mut mark, config, stop) {
        Ok(stats) => Ok(Some(stats)),
        // Stopped, not failed: the next round tries again.
        Err(err @ BrokerError::PartitionClosed { .. }) => Err(err),
        Err(err) => {
            mark.retry_after = Some(Instant::now() + RETRY_BACKOFF);
            Err(err)
        }
    }
}

/// What compacting the partition now would remove, without changing anything.
pub fn estimate(
    partition: &Partition,
    config: &TopicConfig,
) -> Result<CompactionStats, BrokerError> {
    let end = partition.commit_bound()?;
    partition
        .with_log(|log| compaction_estimate::estimate(log, compaction_config(config, end)))?
        .map_err(|source| maintenance_error(partition, MaintenanceError::Read(source)))
}

fn run(
    partition: &Partition,
    mark: &mut CleanMark,
    config: &TopicConfig,
    stop: Cancel<'_>,
) -> Result<CompactionStats, BrokerError> {
    let cancel = || {
        #[cfg(test)]
        super::compaction_hold::check(partition);
        partition.closing() || stop()
    };
    let end = partition.commit_bound()?;
    partition.with_log(|log| {
        // Measured before compacting: segments sealed meanwhile are rewritten but their
        // keys were not mapped, so they stay dirty.
        let Some(sealed_end) = sealed_end(log, end) else {
            return Ok(CompactionStats::default());
        };
        let stats = log
            .compact_cancellable(compaction_config(config, end), &cancel)
            .map_err(|source| match source {
                MaintenanceError::Cancelled { .. } => partition.closed_error(),
                source => maintenance_error(partition, source),
            })?;
        mark.advance(sealed_end);
        mark.retry_after = None;
        tracing::info!(
            partition = %partition.ident(),
            dir = %log.dir().display(),
            segments_before = stats.segments_before,
            segments_after = stats.segments_after,
            bytes_before = stats.bytes_before,
            bytes_after = stats.bytes_after,
            records_removed = stats.records_removed,
            tombstones_removed = stats.tombstones_removed,
            passes = stats.passes,
            duration = ?stats.duration,
            "compacted partition"
        );
        Ok(stats)
    })?
}

/// Where the sealed segments that compaction bounded by `end_offset` covers end.
fn sealed_end(log: &Log, end_offset: Option<u64>) -> Option<u64> {
    let limit = end_offset.unwrap_or(u64::MAX);
    log.segment_infos()
        .iter()
        .take_while(|s| s.sealed && s.next_offset <= limit)
        .map(|s| s.next_offset)
        .last()
}

fn maintenance_error(partition: &Partition, source: MaintenanceError) -> BrokerError {
    BrokerError::Maintenance {
        topic: partition.ident().topic.clone(),
        partition: partition.number(),
        source: Box::new(source),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(base: u64, next: u64, size: u64, sealed: bool) -> SegmentInfo {
        SegmentInfo {
            base_offset: base,
            next_offset: next,
            size_bytes: size,
            max_timestamp_ms: 0,
            sealed,
        }
    }

    #[test]
    fn dirty_bytes_count_sealed_segments_above_the_mark() {
        let segments = [
            segment(0, 10, 100, true),
            segment(10, 20, 300, true),
            segment(20, 25, 999, false),
        ];
        assert_eq!(dirty_bytes(&segments, 0), (400, 400));
        assert_eq!(dirty_bytes(&segments, 10), (300, 400));
        assert_eq!(dirty_bytes(&segments, 15), (300, 400));
        assert_eq!(dirty_bytes(&segments, 20), (0, 400));
    }
}
