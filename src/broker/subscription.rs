//! A subscription: a cursor per partition that reads history in bounded chunks, reports
//! once when it has caught up with the live end, then follows the tail, sleeping on the
//! partitions' high-watermark notifiers until data arrives.
//!
//! The caller pulls events one at a time, so the pace is the consumer's: nothing is read
//! ahead of what the caller asked for, memory stays bounded by one chunk, and a slow
//! consumer is never skipped ahead or dropped.

use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::partition::{Partition, Progress};
use super::{Broker, BrokerError, blocking};
use crate::storage::{RawRead, ReadError, ReadLimits, StoredRecord};

/// Where a subscription starts in each partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// The first readable offset.
    Earliest,
    /// The next offset to be written: only new records.
    Latest,
    /// This offset (a single partition only).
    Offset(u64),
    /// The first record with a timestamp at or after this time (ms since the epoch), or
    /// the live end if there is none.
    Timestamp(i64),
}

/// What [`Subscription::next`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionEvent {
    /// The next records of one partition, in offset order.
    Records {
        /// The partition.
        partition: u32,
        /// At least one record.
        records: Vec<StoredRecord>,
    },
    /// The next stored batches of one partition, as bytes (a subscription switched
    /// to [`Subscription::deliver_raw`]).
    Batches {
        /// The partition.
        partition: u32,
        /// Where the read started: records below it (in the first batch) are not
        /// part of the stream.
        from: u64,
        /// At least one batch.
        read: RawRead,
    },
    /// Every partition has been read up to the high watermark it had; sent once.
    CaughtUp,
}

struct Cursor {
    partition: Arc<Partition>,
    progress: watch::Receiver<Progress>,
    next_offset: u64,
}

/// A running subscription; see the module docs.
pub struct Subscription {
    cursors: Vec<Cursor>,
    /// Index of the partition to try first, so partitions take turns.
    turn: usize,
    caught_up_sent: bool,
    chunk: ReadLimits,
    /// Whether events carry stored batches instead of records.
    raw: bool,
    shutdown: CancellationToken,
}

impl Broker {
    /// Starts a subscription to one partition, or to every partition when `partition` is
    /// `None`, reading at most `chunk` per event.
    pub async fn subscribe(
        &self,
        topic: &str,
        partition: Option<u32>,
        start: StartAt,
        chunk: ReadLimits,
    ) -> Result<Subscription, BrokerError> {
        let topic = self.topic_synced(topic).await?;
        if matches!(start, StartAt::Offset(_)) && partition.is_none() {
            return Err(BrokerError::InvalidRequest(
                "an offset start needs an explicit partition".into(),
            ));
        }
        let partitions: Vec<Arc<Partition>> = match partition {
            Some(number) => vec![Arc::clone(topic.partition(number)?)],
            None => topic.partitions().to_vec(),
        };
        self.subscribe_from(partitions, move |p| start_offset(p, start), chunk)
            .await
    }

    /// Starts a subscription to `partitions`, each at the offset `start_of` picks for it.
    pub(super) async fn subscribe_from(
        &self,
        partitions: Vec<Arc<Partition>>,
        start_of: impl Fn(&Partition) -> Result<u64, BrokerError> + Send + 'static,
        chunk: ReadLimits,
    ) -> Result<Subscription, BrokerError> {
        let cursors = blocking(move || {
            partitions
                .into_iter()
                .map(|partition| {
                    // Subscribe to the notifier before reading bounds, so no move is missed.
                    let progress = partition.watch();
                    let next_offset = start_of(&partition)?;
                    Ok(Cursor {
                        partition,
                        progress,
                        next_offset,
                    })
                })
                .collect::<Result<Vec<_>, BrokerError>>()
        })
        .await?;
        Ok(Subscription {
            cursors,
            turn: 0,
            caught_up_sent: false,
            chunk,
            raw: false,
            shutdown: self.shutdown.clone(),
        })
    }
}

fn start_offset(partition: &Partition, start: StartAt) -> Result<u64, BrokerError> {
    let (earliest, latest) = partition.bounds()?;
    match start {
        StartAt::Earliest => Ok(earliest),
        StartAt::Latest => Ok(latest),
        StartAt::Offset(offset) if (earliest..=latest).contains(&offset) => Ok(offset),
        StartAt::Offset(offset) => {
            let source = ReadError::OutOfRange {
                offset,
                log_start: earliest,
                high_watermark: latest,
            };
            Err(partition.read_error(source))
        }
        StartAt::Timestamp(ts) => Ok(partition.offset_for_timestamp(ts)?.unwrap_or(latest)),
    }
}

impl Subscription {
    /// The next chunk of records, the caught-up marker, or an error that ends the
    /// subscription (shutdown, topic deleted, data no longer readable). Waits while
    /// every partition is at its live end.
    pub async fn next(&mut self) -> Result<SubscriptionEvent, BrokerError> {
        loop {
            if self.shutdown.is_cancelled() {
                return Err(BrokerError::ShuttingDown);
            }
            if let Some(event) = self.read_some().await? {
                return Ok(event);
            }
            if !self.caught_up_sent {
                self.caught_up_sent = true;
                return Ok(SubscriptionEvent::CaughtUp);
            }
            self.wait_for_data().await?;
        }
    }

    /// From now on, events carry the stored batches as bytes
    /// ([`SubscriptionEvent::Batches`]) instead of records; `chunk` bounds them in
    /// whole batches.
    pub fn deliver_raw(&mut self) {
        self.raw = true;
    }

    /// The subscribed topic (`None` only for a subscription to no partition).
    pub fn topic(&self) -> Option<&str> {
        self.cursors
            .first()
            .map(|c| c.partition.ident().topic.as_str())
    }

    /// The next offset to read in each subscribed partition, as `(partition, offset)`.
    pub fn positions(&self) -> Vec<(u32, u64)> {
        self.cursors
            .iter()
            .map(|c| (c.partition.number(), c.next_offset))
            .collect()
    }

    /// Reads one chunk from the first partition, in turn order, that has unread data.
    async fn read_some(&mut self) -> Result<Option<SubscriptionEvent>, BrokerError> {
        let count = self.cursors.len();
        for step in 0..count {
            let index = (self.turn + step) % count;
            let cursor = &mut self.cursors[index];
            let progress = *cursor.progress.borrow_and_update();
            if !progress.open {
                return Err(cursor.partition.closed_error());
            }
            if cursor.next_offset >= progress.high_watermark {
                continue;
            }
            let (partition, offset, limits) = (
                Arc::clone(&cursor.partition),
                cursor.next_offset,
                self.chunk,
            );
            if self.raw {
                let read = blocking(move || partition.read_raw(offset, limits)).await?;
                cursor.next_offset = read.next_offset;
                self.turn = index + 1;
                if read.batches > 0 {
                    let partition = cursor.partition.number();
                    return Ok(Some(SubscriptionEvent::Batches {
                        partition,
                        from: offset,
                        read,
                    }));
                }
                continue;
            }
            let outcome = blocking(move || partition.read(offset, limits)).await?;
            cursor.next_offset = outcome.next_offset;
            self.turn = index + 1;
            if !outcome.records.is_empty() {
                let partition = cursor.partition.number();
                return Ok(Some(SubscriptionEvent::Records {
                    partition,
                    records: outcome.records,
                }));
            }
        }
        Ok(None)
    }

    /// Sleeps until any partition's high watermark moves or shutdown begins.
    async fn wait_for_data(&mut self) -> Result<(), BrokerError> {
        let shutdown = &self.shutdown;
        if self.cursors.is_empty() {
            shutdown.cancelled().await;
            return Err(BrokerError::ShuttingDown);
        }
        let changes = self
            .cursors
            .iter_mut()
            .map(|c| Box::pin(c.progress.changed()));
        tokio::select! {
            // An error means the notifier is gone with its partition; the next read
            // reports the partition as closed.
            _ = futures_util::future::select_all(changes) => Ok(()),
            () = shutdown.cancelled() => Err(BrokerError::ShuttingDown),
        }
    }
}
