//! A background thread that refreshes the partition and consumer-group gauges from a
//! [`Broker::gauge_snapshot`] every [`REFRESH_INTERVAL`].
//!
//! Refreshing on a timer keeps the append path free of gauge updates. A partition or
//! group position that disappears (topic deleted, group deleted) has its gauges set to 0
//! once: the exporter cannot drop a series, and 0 is what it now holds.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use metrics::gauge;

use super::names;
use crate::broker::Broker;
use crate::broker::gauges::GaugeSnapshot;
use crate::broker::periodic::PeriodicThread;

/// How often the gauges are refreshed.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(2);

/// Label values of a partition series: topic and partition.
type PartitionKey = (String, u32);
/// Label values of a lag series: group, topic and partition.
type LagKey = (String, String, u32);

/// Handle of the reporter thread; dropping it stops the thread.
pub struct GaugeReporter(Option<PeriodicThread>);

impl GaugeReporter {
    /// Starts refreshing gauges from `broker`, or returns `None` when no metrics
    /// recorder is installed (there would be nobody to report to).
    pub fn start(broker: &Arc<Broker>) -> Option<GaugeReporter> {
        if !super::installed() {
            return None;
        }
        let broker = Arc::clone(broker);
        let mut published = Published::default();
        let started = PeriodicThread::start("eventlog-metrics", REFRESH_INTERVAL, move |_| {
            published.update(&broker.gauge_snapshot());
            true
        });
        match started {
            Ok(thread) => Some(GaugeReporter(Some(thread))),
            Err(error) => {
                tracing::warn!(%error, "cannot start the metrics reporter; partition and group gauges stay empty");
                None
            }
        }
    }
}

impl Drop for GaugeReporter {
    fn drop(&mut self) {
        if let Some(thread) = self.0.take() {
            thread.stop();
        }
    }
}

/// The series set by the last round, to zero those that vanish.
#[derive(Debug, Default)]
struct Published {
    partitions: BTreeSet<PartitionKey>,
    lags: BTreeSet<LagKey>,
}

impl Published {
    fn update(&mut self, snapshot: &GaugeSnapshot) {
        let partitions: BTreeSet<PartitionKey> = snapshot
            .partitions
            .iter()
            .map(|p| (p.topic.clone(), p.partition))
            .collect();
        let lags: BTreeSet<LagKey> = snapshot
            .lags
            .iter()
            .map(|l| (l.group.clone(), l.topic.clone(), l.partition))
            .collect();
        for p in &snapshot.partitions {
            let stats = &p.stats;
            let values = [
                (names::HIGH_WATERMARK, stats.high_watermark as f64),
                (names::LOG_START_OFFSET, stats.log_start_offset as f64),
                (names::SEGMENTS, stats.segment_count as f64),
                (names::PARTITION_BYTES, stats.size_bytes as f64),
            ];
            set_partition(&p.topic, p.partition, values);
        }
        for l in &snapshot.lags {
            set_lag(&l.group, &l.topic, l.partition, l.lag as f64);
        }
        gauge!(names::UNAVAILABLE_PARTITIONS).set(snapshot.unavailable_partitions as f64);
        for (topic, partition) in vanished(&self.partitions, &partitions) {
            let zeros = [
                names::HIGH_WATERMARK,
                names::LOG_START_OFFSET,
                names::SEGMENTS,
                names::PARTITION_BYTES,
            ]
            .map(|name| (name, 0.0));
            set_partition(&topic, partition, zeros);
        }
        for (group, topic, partition) in vanished(&self.lags, &lags) {
            set_lag(&group, &topic, partition, 0.0);
        }
        self.partitions = partitions;
        self.lags = lags;
    }
}

fn set_partition(topic: &str, partition: u32, values: [(&'static str, f64); 4]) {
    let labels = [
        ("topic", topic.to_owned()),
        ("partition", partition.to_string()),
    ];
    for (name, value) in values {
        gauge!(name, &labels).set(value);
    }
}

fn set_lag(group: &str, topic: &str, partition: u32, lag: f64) {
    let labels = [
        ("group", group.to_owned()),
        ("topic", topic.to_owned()),
        ("partition", partition.to_string()),
    ];
    gauge!(names::GROUP_LAG, &labels).set(lag);
}

/// The keys of `before` missing from `now`.
fn vanished<K: Ord + Clone>(before: &BTreeSet<K>, now: &BTreeSet<K>) -> Vec<K> {
    before.difference(now).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::gauges::{GroupLagGauge, PartitionGauges};
    use crate::storage::LogStats;

    fn partition(topic: &str, partition: u32) -> PartitionGauges {
        PartitionGauges {
            topic: topic.into(),
            partition,
            stats: LogStats {
                log_start_offset: 0,
                high_watermark: 5,
                segment_count: 1,
                size_bytes: 100,
            },
        }
    }

    #[test]
    fn vanished_lists_only_keys_that_are_gone() {
        let before: BTreeSet<u32> = [1, 2, 3].into();
        let now: BTreeSet<u32> = [2, 3, 4].into();
        assert_eq!(vanished(&before, &now), vec![1]);
        assert!(vanished(&now, &now).is_empty());
    }

    #[test]
    fn published_remembers_the_current_series_only() {
        let mut published = Published::default();
        let first = GaugeSnapshot {
            partitions: vec![partition("a", 0), partition("b", 0)],
            lags: vec![GroupLagGauge {
                group: "g".into(),
                topic: "a".into(),
                partition: 0,
                lag: 3,
            }],
            unavailable_partitions: 0,
        };
        published.update(&first);
        assert_eq!(published.partitions.len(), 2);
        assert_eq!(published.lags.len(), 1);
        let second = GaugeSnapshot {
            partitions: vec![partition("b", 0)],
            lags: Vec::new(),
            unavailable_partitions: 1,
        };
        published.update(&second);
        assert_eq!(published.partitions, BTreeSet::from([("b".to_string(), 0)]));
        assert!(published.lags.is_empty());
    }
}
