//! Auto-commit for group subscriptions (`auto_commit_interval_ms`).
//!
//! `Subscribe` streams from server to client and carries nothing back, so the server
//! cannot know what the client has processed. What it does know is which messages it
//! handed to the transport: after each successful send into the stream's queue, the
//! stream records the subscription's positions (one past the last record of every
//! message sent so far), and every interval the positions that moved are committed.
//! Records in queues and network buffers, or received but not yet processed, count as
//! handed over; a client that crashes may therefore lose them on resume. That trade
//! is documented in the .proto; at-least-once consumers commit themselves instead.
//! Nothing is committed when the stream ends: a stream usually ends because the client
//! went away, and that is exactly when handed-over records are least likely processed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::broker::{Broker, BrokerError, OffsetCommit};

/// The auto-commit state of one stream.
pub struct AutoCommit {
    broker: Arc<Broker>,
    group: String,
    topic: String,
    timer: Interval,
    /// Positions after the last message handed to the transport, by partition.
    handed_over: BTreeMap<u32, u64>,
    /// Positions last committed (initially where the stream started).
    committed: BTreeMap<u32, u64>,
}

impl AutoCommit {
    /// Auto-commit for `group` on `topic` every `interval`, starting from `start`, the
    /// subscription's initial positions (which are not committed unless they move).
    pub fn new(
        broker: Arc<Broker>,
        group: String,
        topic: String,
        interval: Duration,
        start: Vec<(u32, u64)>,
    ) -> AutoCommit {
        let mut timer = tokio::time::interval_at(Instant::now() + interval, interval);
        timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let start: BTreeMap<u32, u64> = start.into_iter().collect();
        AutoCommit {
            broker,
            group,
            topic,
            timer,
            handed_over: start.clone(),
            committed: start,
        }
    }

    /// Records the positions after a message was handed to the transport.
    pub fn handed_over(&mut self, positions: Vec<(u32, u64)>) {
        self.handed_over.extend(positions);
    }

    /// Waits for the next interval, then commits the positions that moved.
    pub async fn tick(&mut self) -> Result<(), BrokerError> {
        self.timer.tick().await;
        let moved: Vec<OffsetCommit> = self
            .handed_over
            .iter()
            .filter(|(partition, offset)| self.committed.get(partition) != Some(offset))
            .map(|(&partition, &next_offset)| OffsetCommit {
                partition,
                next_offset,
                metadata: "auto-commit".into(),
            })
            .collect();
        if moved.is_empty() {
            return Ok(());
        }
        self.broker
            .commit_offsets(&self.group, &self.topic, moved.clone())
            .await?;
        self.committed
            .extend(moved.into_iter().map(|c| (c.partition, c.next_offset)));
        Ok(())
    }
}

/// Waits for the next auto-commit of `auto`, or forever without one.
pub async fn next_commit(auto: &mut Option<AutoCommit>) -> Result<(), BrokerError> {
    match auto {
        Some(auto) => auto.tick().await,
        None => std::future::pending().await,
    }
}
