//! A subscription: a cursor per partition that reads history in bounded chunks, reports
//! once when it has caught up with the live end, then follows the tail, sleeping on the
//! partitions' high-watermark notifiers until data arrives.
//!
//! The caller pulls events one at a time, so the pace is the consumer's: nothing is read
//! ahead of what the caller asked for, memory stays bounded by one chunk, and a slow
//! consumer is never skipped ahead or dropped.
//!
//! In a cluster, a partition this node holds no replica of is read through a node that
//! holds one (`remote_read`): its cursor asks that node, and while the subscription
//! waits, long-polls it instead of sleeping on a notifier.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::partition::{Partition, Progress};
use super::read::{PartitionOffsets, local_offsets};
use super::remote_read;
use super::{Broker, BrokerError, blocking};
use crate::cluster::runtime::Cluster;
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
    source: Source,
    next_offset: u64,
}

/// Where a cursor's records come from.
enum Source {
    /// This node's log or replica, with its high-watermark notifier.
    Here(watch::Receiver<Progress>),
    /// A replica on another node (this node holds none), read through the cluster.
    Elsewhere(Remote),
}

/// A cursor's view of a replica on another node.
struct Remote {
    cluster: Arc<Cluster>,
    /// The replica's commit watermark in its last answer.
    known_end: Option<u64>,
    /// An answer a long-poll brought while the subscription waited, not yet handed on.
    ready: Option<RawRead>,
}

/// How long a wait for data on another node's replica lasts before it is asked again.
const REMOTE_POLL: Duration = Duration::from_secs(10);

/// What ended a wait for data.
enum Woken {
    /// A partition read here moved (or closed).
    Here,
    /// The long-poll of cursor `.0` (held elsewhere) answered.
    Elsewhere(usize, Result<RawRead, BrokerError>),
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
        if let (StartAt::Offset(offset), [partition]) = (start, partitions.as_slice()) {
            // A position read through another node (a consumer resuming here after
            // its node went away) may be a moment ahead of what this replica knows
            // is committed: wait for that before calling it out of range.
            partition
                .await_committed(offset, remote_read::COMMIT_LAG_WAIT)
                .await;
        }
        let timestamp = match start {
            StartAt::Timestamp(ts) => Some(ts),
            _ => None,
        };
        self.subscribe_from(
            partitions,
            timestamp,
            move |p, bounds| start_offset(p, bounds, start),
            chunk,
        )
        .await
    }

    /// Starts a subscription to `partitions`, each at the offset `start_of` picks for it
    /// from the partition's bounds (with the first offset at or after `timestamp`,
    /// when given). A partition this node holds no replica of is read through a node
    /// that holds one.
    pub(super) async fn subscribe_from(
        &self,
        partitions: Vec<Arc<Partition>>,
        timestamp: Option<i64>,
        start_of: impl Fn(&Partition, &PartitionOffsets) -> Result<u64, BrokerError> + Send + 'static,
        chunk: ReadLimits,
    ) -> Result<Subscription, BrokerError> {
        let mut cursors = Vec::with_capacity(partitions.len());
        for partition in partitions {
            let cursor = match self.serving_cluster(&partition) {
                Some(cluster) => {
                    let bounds =
                        remote_read::offsets_elsewhere(&cluster, &partition, timestamp).await?;
                    let next_offset = start_of(&partition, &bounds)?;
                    Cursor {
                        partition,
                        source: Source::Elsewhere(Remote {
                            cluster,
                            known_end: None,
                            ready: None,
                        }),
                        next_offset,
                    }
                }
                None => {
                    // Subscribe to the notifier before reading bounds, so no move is
                    // missed.
                    let progress = partition.watch();
                    let read = Arc::clone(&partition);
                    let bounds = blocking(move || local_offsets(&read, timestamp)).await?;
                    let next_offset = start_of(&partition, &bounds)?;
                    Cursor {
                        partition,
                        source: Source::Here(progress),
                        next_offset,
                    }
                }
            };
            cursors.push(cursor);
        }
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

fn start_offset(
    partition: &Partition,
    bounds: &PartitionOffsets,
    start: StartAt,
) -> Result<u64, BrokerError> {
    let (earliest, latest) = (bounds.earliest, bounds.latest);
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
        StartAt::Timestamp(_) => Ok(bounds.for_timestamp.unwrap_or(latest)),
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
            let (chunk, raw) = (self.chunk, self.raw);
            let cursor = &mut self.cursors[index];
            let event = match &mut cursor.source {
                Source::Here(progress) => {
                    let progress = *progress.borrow_and_update();
                    if !progress.open {
                        return Err(cursor.partition.closed_error());
                    }
                    if cursor.next_offset >= progress.high_watermark {
                        continue;
                    }
                    read_here(cursor, chunk, raw).await?
                }
                Source::Elsewhere(remote) => {
                    let offset = cursor.next_offset;
                    let read = match remote.ready.take() {
                        Some(read) => read,
                        None if remote.known_end == Some(offset) => continue,
                        None => {
                            remote_read::fetch_raw_elsewhere(
                                &remote.cluster,
                                &cursor.partition,
                                offset,
                                chunk,
                                Duration::ZERO,
                            )
                            .await?
                        }
                    };
                    remote.known_end = Some(read.high_watermark);
                    hand_on(cursor, read, chunk, raw)?
                }
            };
            self.turn = index + 1;
            if event.is_some() {
                return Ok(event);
            }
        }
        Ok(None)
    }

    /// Sleeps until any partition's high watermark moves, a long-poll of a partition
    /// held elsewhere answers, or shutdown begins.
    async fn wait_for_data(&mut self) -> Result<(), BrokerError> {
        let shutdown = self.shutdown.clone();
        if self.cursors.is_empty() {
            shutdown.cancelled().await;
            return Err(BrokerError::ShuttingDown);
        }
        let chunk = self.chunk;
        let woken = {
            let waits = self
                .cursors
                .iter_mut()
                .enumerate()
                .map(|(index, cursor)| wait_on(index, cursor, chunk));
            tokio::select! {
                (woken, _, _) = futures_util::future::select_all(waits) => woken,
                () = shutdown.cancelled() => return Err(BrokerError::ShuttingDown),
            }
        };
        if let Woken::Elsewhere(index, answer) = woken {
            let read = answer?;
            if let Source::Elsewhere(remote) = &mut self.cursors[index].source {
                remote.known_end = Some(read.high_watermark);
                remote.ready = Some(read);
            }
        }
        Ok(())
    }
}

/// What one cursor waits on: its partition's notifier here (an error means the
/// notifier is gone with its partition; the next read reports the partition as
/// closed), or a long-poll of the replica elsewhere.
fn wait_on(
    index: usize,
    cursor: &mut Cursor,
    chunk: ReadLimits,
) -> Pin<Box<dyn Future<Output = Woken> + Send + '_>> {
    let Cursor {
        partition,
        source,
        next_offset,
    } = cursor;
    match source {
        Source::Here(progress) => Box::pin(async move {
            let _ = progress.changed().await;
            Woken::Here
        }),
        Source::Elsewhere(remote) => {
            let offset = *next_offset;
            Box::pin(async move {
                let answer = remote_read::fetch_raw_elsewhere(
                    &remote.cluster,
                    partition,
                    offset,
                    chunk,
                    REMOTE_POLL,
                )
                .await;
                Woken::Elsewhere(index, answer)
            })
        }
    }
}

/// Reads one chunk of the cursor's partition here and moves the cursor past it.
async fn read_here(
    cursor: &mut Cursor,
    chunk: ReadLimits,
    raw: bool,
) -> Result<Option<SubscriptionEvent>, BrokerError> {
    let (partition, offset) = (Arc::clone(&cursor.partition), cursor.next_offset);
    if raw {
        let read = blocking(move || partition.read_raw(offset, chunk)).await?;
        return hand_on(cursor, read, chunk, raw);
    }
    let outcome = blocking(move || partition.read(offset, chunk)).await?;
    cursor.next_offset = outcome.next_offset;
    if outcome.records.is_empty() {
        return Ok(None);
    }
    Ok(Some(SubscriptionEvent::Records {
        partition: cursor.partition.number(),
        records: outcome.records,
    }))
}

/// The event `read` (of the cursor's partition, from its next offset) makes, as
/// batches or as records, moving the cursor past what it hands on.
fn hand_on(
    cursor: &mut Cursor,
    read: RawRead,
    chunk: ReadLimits,
    raw: bool,
) -> Result<Option<SubscriptionEvent>, BrokerError> {
    let (partition, from) = (cursor.partition.number(), cursor.next_offset);
    if raw {
        cursor.next_offset = read.next_offset;
        if read.batches == 0 {
            return Ok(None);
        }
        return Ok(Some(SubscriptionEvent::Batches {
            partition,
            from,
            read,
        }));
    }
    let outcome = remote_read::records_of(&cursor.partition, &read, from, chunk)?;
    cursor.next_offset = outcome.next_offset;
    if outcome.records.is_empty() {
        return Ok(None);
    }
    Ok(Some(SubscriptionEvent::Records {
        partition,
        records: outcome.records,
    }))
}
