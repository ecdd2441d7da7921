//! A snapshot of the broker's state for metrics gauges: statistics of every partition
//! and the lag of every committed consumer-group position. The broker only collects;
//! publishing is the telemetry module's business, so the broker stays free of metrics.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError};

use super::Broker;
use super::group_types::PartitionLag;
use super::topic::Topic;
use crate::storage::LogStats;

/// Statistics of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionGauges {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// Offsets, segment count and bytes on disk.
    pub stats: LogStats,
}

/// The lag of one consumer group in one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupLagGauge {
    /// The group.
    pub group: String,
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// Records the group has yet to read (see [`PartitionLag::lag`]).
    pub lag: u64,
}

/// Everything the gauges show, taken at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GaugeSnapshot {
    /// Every open partition, by topic and partition.
    pub partitions: Vec<PartitionGauges>,
    /// Every committed position of a topic that exists, by group, topic and partition.
    pub lags: Vec<GroupLagGauge>,
    /// Partitions whose log could not be opened at start-up.
    pub unavailable_partitions: usize,
}

impl Broker {
    /// Collects the gauges' values. Blocking (takes each partition's lock briefly); a
    /// partition closed meanwhile is left out. Costs one pass over the partitions and
    /// the commits, so call it every few seconds, not per request.
    pub fn gauge_snapshot(&self) -> GaugeSnapshot {
        // Snapshot so the map's lock is not held while partitions are visited.
        let topics: Vec<Arc<Topic>> = self
            .topics
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        let mut bounds: BTreeMap<(&str, u32), &LogStats> = BTreeMap::new();
        let mut partitions = Vec::new();
        let mut unavailable_partitions = 0;
        for topic in &topics {
            for partition in topic.partitions() {
                if partition.unavailable_reason().is_some() {
                    unavailable_partitions += 1;
                }
                if let Ok(stats) = partition.stats() {
                    partitions.push(PartitionGauges {
                        topic: topic.name().to_string(),
                        partition: partition.number(),
                        stats,
                    });
                }
            }
        }
        for p in &partitions {
            bounds.insert((p.topic.as_str(), p.partition), &p.stats);
        }
        let mut lags = Vec::new();
        for group in self.groups.groups() {
            for (key, committed) in self.groups.group(&group) {
                let Some(stats) = bounds.get(&(key.topic.as_str(), key.partition)) else {
                    continue;
                };
                let lag = PartitionLag {
                    topic: key.topic.clone(),
                    partition: key.partition,
                    committed: Some(committed),
                    log_start: stats.log_start_offset,
                    high_watermark: stats.high_watermark,
                }
                .lag();
                lags.push(GroupLagGauge {
                    group: key.group,
                    topic: key.topic,
                    partition: key.partition,
                    lag,
                });
            }
        }
        GaugeSnapshot {
            partitions,
            lags,
            unavailable_partitions,
        }
    }
}
