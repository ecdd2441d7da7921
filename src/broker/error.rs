//! The broker's domain errors. Each variant names what it is about (topic, partition,
//! path) so its message alone tells a user what went wrong; `service::status` maps every
//! variant to a gRPC status code.

use std::path::PathBuf;

use super::group_store::GroupStoreError;
use super::timestamp_bounds::TimestampWindow;
use crate::storage::{AppendError, Exhausted, MaintenanceError, OpenError, ReadError};

/// An operation of the [`Broker`](super::Broker) failed.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// A topic name breaks the naming rules.
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopicName {
        /// The rejected name.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A topic configuration value is out of range.
    #[error("invalid config for topic {topic}: {reason}")]
    InvalidConfig {
        /// The topic being created.
        topic: String,
        /// What is wrong.
        reason: String,
    },
    /// A partition count asked of an existing topic is not more than it has, or is
    /// beyond the server's limit; nothing changed.
    #[error("cannot give topic {topic} {requested} partitions: {reason}")]
    InvalidPartitionCount {
        /// The topic.
        topic: String,
        /// The count asked for.
        requested: u32,
        /// Why it is refused (naming the current count or the limit).
        reason: String,
    },
    /// A produced record's timestamp lies outside the window its topic accepts; nothing
    /// of the request was appended.
    #[error(
        "record {index} of the request has timestamp {timestamp_ms} ms, outside what topic \
         {topic} accepts now: {window} (message_timestamp_before_max_ms, \
         message_timestamp_after_max_ms); nothing was appended"
    )]
    TimestampOutOfRange {
        /// The topic.
        topic: String,
        /// The record's index in the request.
        index: usize,
        /// Its timestamp, in ms since the epoch.
        timestamp_ms: i64,
        /// The accepted timestamps.
        window: TimestampWindow,
    },
    /// A request is malformed (for example a produce without records).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Compaction was asked of a topic whose cleanup policy is not COMPACT (it would
    /// remove records the topic is configured to keep).
    #[error("topic {topic} has cleanup policy delete; only compact topics are compacted")]
    NotCompacted {
        /// The topic.
        topic: String,
    },
    /// Retention or compaction of a partition failed; the partition is as it was before.
    #[error("maintenance of {topic}/{partition} failed: {source}")]
    Maintenance {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// What the storage engine reported (boxed: storage errors are large).
        #[source]
        source: Box<MaintenanceError>,
    },
    /// The topic does not exist.
    #[error("topic {topic} does not exist")]
    TopicNotFound {
        /// The requested topic.
        topic: String,
    },
    /// A topic with this name already exists.
    #[error("topic {topic} already exists")]
    TopicExists {
        /// The requested topic.
        topic: String,
    },
    /// The partition number is not below the topic's partition count.
    #[error("topic {topic} has no partition {partition} (it has {partitions})")]
    PartitionNotFound {
        /// The topic.
        topic: String,
        /// The requested partition.
        partition: u32,
        /// The topic's partition count.
        partitions: u32,
    },
    /// The partition was closed by a topic deletion or a shutdown while the request ran.
    #[error("partition {topic}/{partition} is closed")]
    PartitionClosed {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
    },
    /// The partition's log could not be opened at start-up; the other partitions serve.
    #[error("partition {topic}/{partition} is unavailable: {reason}")]
    PartitionUnavailable {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// Why its log could not be opened.
        reason: String,
    },
    /// The server is shutting down and takes no new work.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// An append was refused or failed; the source says which.
    #[error("append to {topic}/{partition} failed: {source}")]
    Append {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// What the storage engine reported (boxed: storage errors are large).
        #[source]
        source: Box<AppendError>,
    },
    /// A read was refused or failed; the source says which.
    #[error("read from {topic}/{partition} failed: {source}")]
    Read {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// What the storage engine reported (boxed: storage errors are large).
        #[source]
        source: Box<ReadError>,
    },
    /// Opening a partition log (or the data directory lock) failed.
    #[error("opening {what} failed: {source}")]
    Open {
        /// What was being opened.
        what: String,
        /// What the storage engine reported (boxed: storage errors are large).
        #[source]
        source: Box<OpenError>,
    },
    /// A file operation on the topic registry failed.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file of the topic registry could not be opened: the process or the system ran
    /// out of file descriptors. Nothing changed.
    #[error("{what}, on {path}")]
    Exhausted {
        /// The file or directory involved.
        path: PathBuf,
        /// What ran out.
        what: Exhausted,
    },
    /// A `topic.json` file cannot be understood.
    #[error("topic metadata {path} is unreadable: {reason}")]
    BadMetadata {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A newer instance of a named producer initialised: this one, with an older epoch,
    /// may no longer produce.
    #[error(
        "producer {producer_id} epoch {epoch} was fenced by epoch {current}: a newer instance with the same name initialised"
    )]
    ProducerFenced {
        /// The producer.
        producer_id: i64,
        /// The epoch the request carried.
        epoch: i16,
        /// The newest epoch.
        current: i16,
    },
    /// A produce named a producer id this broker never issued.
    #[error("producer id {producer_id} was never issued here; call InitProducer for one")]
    UnknownProducer {
        /// The id.
        producer_id: i64,
    },
    /// As many producer names are registered as allowed.
    #[error("{limit} producer names are registered, the limit; reuse a name")]
    TooManyProducerNames {
        /// The limit.
        limit: usize,
    },
    /// A consumer-group name is empty or too long.
    #[error("invalid group name {name:?}: {reason}")]
    InvalidGroupName {
        /// The rejected name.
        name: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// The consumer group has no committed offsets.
    #[error("consumer group {group} does not exist")]
    GroupNotFound {
        /// The requested group.
        group: String,
    },
    /// A commit names an offset past the end of the partition.
    #[error(
        "cannot commit next_offset {next_offset} for {topic}/{partition} in group {group}: \
         beyond the high watermark (valid 0..={high_watermark}, log start {log_start})"
    )]
    CommitOutOfRange {
        /// The committing group.
        group: String,
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The rejected offset.
        next_offset: u64,
        /// The partition's first readable offset.
        log_start: u64,
        /// The partition's high watermark.
        high_watermark: u64,
    },
    /// A group membership operation or a fenced commit was refused.
    #[error(transparent)]
    Membership(#[from] super::membership::MembershipError),
    /// Storing or loading consumer-group offsets failed.
    #[error(transparent)]
    Groups(#[from] GroupStoreError),
    /// A blocking task running storage work died (a bug, reported rather than hidden).
    #[error("internal error: {0}")]
    Internal(String),
    /// A replicated write or metadata change did not commit: no leader could be
    /// reached in time, or the group failed. Retrying later may succeed.
    #[error("{0}")]
    Replication(String),
    /// Adding or removing a cluster node was refused or failed.
    #[error(transparent)]
    NodeChange(#[from] crate::cluster::node_change::NodeChangeError),
}

impl BrokerError {
    /// What ran out, when the error is a lack of file descriptors or memory maps
    /// rather than damage or a bug (the service answers RESOURCE_EXHAUSTED).
    pub fn exhausted(&self) -> Option<Exhausted> {
        match self {
            BrokerError::Append { source, .. } => source.exhausted(),
            BrokerError::Read { source, .. } => source.exhausted(),
            BrokerError::Open { source, .. } => source.exhausted(),
            BrokerError::Maintenance { source, .. } => match source.as_ref() {
                MaintenanceError::Read(read) => read.exhausted(),
                MaintenanceError::Append(append) => append.exhausted(),
                other => other.exhausted(),
            },
            BrokerError::Io { source, .. } => Exhausted::of(source),
            BrokerError::Exhausted { what, .. } => Some(*what),
            BrokerError::Groups(source) => match source {
                GroupStoreError::Open(e) => e.exhausted(),
                GroupStoreError::Append(e) => e.exhausted(),
                GroupStoreError::Read(e) => e.exhausted(),
                GroupStoreError::Compact(e) => e.exhausted(),
                GroupStoreError::Malformed { .. }
                | GroupStoreError::TooManyGroups { .. }
                | GroupStoreError::Interrupted => None,
            },
            _ => None,
        }
    }

    /// The same error told about `path` instead of the file it happened on: a failure
    /// in a staging directory is reported on the topic directory it was building, whose
    /// name says which topic failed.
    pub(crate) fn located_at(self, path: &std::path::Path) -> BrokerError {
        match self {
            BrokerError::Io { source, .. } => BrokerError::Io {
                path: path.to_path_buf(),
                source,
            },
            BrokerError::Exhausted { what, .. } => BrokerError::Exhausted {
                path: path.to_path_buf(),
                what,
            },
            other => other,
        }
    }

    /// Wraps an I/O error with the path it happened on (telling exhaustion apart).
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> BrokerError {
        let path = path.into();
        move |source| match Exhausted::of(&source) {
            Some(what) => BrokerError::Exhausted { path, what },
            None => BrokerError::Io { path, source },
        }
    }
}

impl From<tokio::task::JoinError> for BrokerError {
    fn from(err: tokio::task::JoinError) -> Self {
        BrokerError::Internal(format!("storage task failed: {err}"))
    }
}
