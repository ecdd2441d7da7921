//! A dedicated thread that calls every partition's `tick` (age-based segment roll,
//! interval fsync) at a fixed period. A thread of its own, because `tick` may fsync and
//! must never run on an async worker.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use super::group_store::GroupStore;
use super::periodic::{PeriodicThread, isolated};
use super::topic::Topic;

/// The open topics, shared by the broker and the ticker.
pub type TopicMap = RwLock<BTreeMap<String, Arc<Topic>>>;

/// Handle of the ticker thread; [`Ticker::stop`] ends it.
pub struct Ticker(PeriodicThread);

impl Ticker {
    /// Starts ticking every partition of `topics`, and the group offsets log, every
    /// `period`.
    pub fn start(
        topics: Arc<TopicMap>,
        groups: Arc<GroupStore>,
        period: Duration,
    ) -> std::io::Result<Ticker> {
        let thread = PeriodicThread::start("eventlog-tick", period, move |_| {
            tick_all(&topics);
            isolated(&"consumer-group offsets", || groups.tick());
            true
        })?;
        Ok(Ticker(thread))
    }

    /// Stops the thread and waits for its current tick to finish.
    pub fn stop(self) {
        self.0.stop();
    }
}

fn tick_all(topics: &TopicMap) {
    // Snapshot so the map's lock is not held during fsyncs.
    let snapshot: Vec<Arc<Topic>> = topics
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .values()
        .cloned()
        .collect();
    for topic in snapshot {
        for partition in topic.partitions() {
            isolated(partition.ident(), || partition.tick());
        }
    }
}
