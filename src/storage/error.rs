//! Typed errors of the storage engine. Each variant carries where it happened
//! (log, segment file, byte position) so a message alone locates the problem.

use super::producer_state::SequenceError;
use std::fmt;
use std::io;
use std::path::PathBuf;

use super::exhausted::Exhausted;

/// Names one partition log in messages: `topic/partition`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct LogIdent {
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: u32,
}

impl LogIdent {
    /// Builds an identity for `topic`/`partition`.
    pub fn new(topic: impl Into<String>, partition: u32) -> Self {
        LogIdent {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for LogIdent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

/// A configuration value outside its documented range.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// `segment_bytes` is not between 1 MiB and 2 GiB.
    #[error("segment size {0} bytes is outside 1 MiB..=2 GiB")]
    SegmentBytes(u64),
    /// `index_interval_bytes` is zero.
    #[error("index interval must be at least 1 byte")]
    IndexInterval,
    /// `max_batch_bytes` is zero or above 256 MiB.
    #[error("max batch size {0} bytes is outside 1..=256 MiB")]
    MaxBatchBytes(u32),
    /// `segment_max_age` is zero.
    #[error("segment max age must be positive")]
    SegmentAge,
    /// An fsync policy string that is not `always`, `never` or `interval:MS`.
    #[error("fsync policy {0:?} is not one of always, never, interval:MS (MS > 0)")]
    BadFsyncPolicy(String),
}

/// Opening a log or a data directory failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The configuration is invalid.
    #[error("invalid log config: {0}")]
    Config(#[from] ConfigError),
    /// Another process holds the directory lock.
    #[error("data directory {path} is locked by another process")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A file or map could not be opened: the process or the system ran out of
    /// file descriptors or memory maps. Nothing changed; retry once some are free.
    #[error("{log}: {what}, on {path}")]
    Exhausted {
        /// The log.
        log: LogIdent,
        /// The file being opened or mapped.
        path: PathBuf,
        /// What ran out.
        what: Exhausted,
    },
    /// A file could not be read, written or created.
    #[error("{log}: i/o error on {path}: {source}")]
    Io {
        /// The log being opened.
        log: LogIdent,
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A segment file whose header is not ours; refusing to guess what it is.
    #[error("{log}: {path} is not an eventlog segment: {reason}")]
    ForeignFile {
        /// The log being opened.
        log: LogIdent,
        /// The file involved.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// An append was refused or failed. Nothing of a failed append is ever visible.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The batch holds no records.
    #[error("a batch must hold at least one record")]
    EmptyBatch,
    /// The encoded batch is larger than the configured limit.
    #[error("batch of {size} bytes exceeds the limit of {max} bytes")]
    BatchTooLarge {
        /// Encoded size of the batch.
        size: u64,
        /// The configured `max_batch_bytes`.
        max: u32,
    },
    /// A record cannot be encoded (for example a header name over 65535 bytes).
    #[error("invalid record at index {index}: {reason}")]
    InvalidRecord {
        /// Position of the record in the batch.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The caller expected a different next offset (optimistic concurrency).
    #[error("expected next offset {expected} but the log's next offset is {actual}")]
    OffsetMismatch {
        /// What the caller expected.
        expected: u64,
        /// The log's actual next offset.
        actual: u64,
    },
    /// An earlier fsync failed; the log refuses writes because it can no longer tell
    /// what reached the disk. Reads of durable data still work; reopen to recover.
    #[error("{log}: log is read-only after a failed fsync: {reason}")]
    Poisoned {
        /// The log.
        log: LogIdent,
        /// The error that poisoned it.
        reason: String,
    },
    /// The device is full; nothing was appended, and appends work again once space returns.
    #[error("{log}: no space left on device writing {path}")]
    NoSpace {
        /// The log.
        log: LogIdent,
        /// The file being written.
        path: PathBuf,
    },
    /// A file or map could not be opened: the process or the system ran out of
    /// file descriptors or memory maps. Nothing changed; retry once some are free.
    #[error("{log}: {what}, on {path}")]
    Exhausted {
        /// The log.
        log: LogIdent,
        /// The file being opened or mapped.
        path: PathBuf,
        /// What ran out.
        what: Exhausted,
    },
    /// Writing failed; nothing of this batch was made visible.
    #[error("{log}: i/o error on {path}: {source}")]
    Io {
        /// The log.
        log: LogIdent,
        /// The file being written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The batch's offsets would pass the largest offset (`u64::MAX`): the partition
    /// can take no more records. Nothing was written.
    #[error("{log}: no offsets left after {next_offset} for this batch")]
    OffsetsExhausted {
        /// The log.
        log: LogIdent,
        /// The log's next offset.
        next_offset: u64,
    },
    /// The log was closed.
    #[error("{log}: log is closed")]
    Closed {
        /// The log.
        log: LogIdent,
    },
    /// An idempotent producer's batch was refused: out of order, fenced, or one
    /// producer too many. Nothing was written.
    #[error("{log}: {source}")]
    Sequence {
        /// The log.
        log: LogIdent,
        /// Why.
        #[source]
        source: SequenceError,
    },
}

/// A read could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The offset is below the log start or above the high watermark.
    #[error("offset {offset} is out of range: valid offsets are {log_start}..={high_watermark}")]
    OutOfRange {
        /// The requested offset.
        offset: u64,
        /// First readable offset.
        log_start: u64,
        /// Next offset to be written (reading at it returns nothing yet).
        high_watermark: u64,
    },
    /// A stored batch failed its checks; no byte of it was returned as data.
    #[error(
        "{log}: corrupt batch in {segment} at position {position}: {reason}{}",
        resume_hint(*next_readable)
    )]
    Corrupt {
        /// The log.
        log: LogIdent,
        /// The segment file.
        segment: PathBuf,
        /// Byte position of the bad batch in the segment file.
        position: u64,
        /// What failed.
        reason: String,
        /// The first offset past the damage that can be read, when known.
        next_readable: Option<u64>,
    },
    /// A file or map could not be opened: the process or the system ran out of
    /// file descriptors or memory maps. Nothing changed; retry once some are free.
    #[error("{log}: {what}, on {path}")]
    Exhausted {
        /// The log.
        log: LogIdent,
        /// The file being opened or mapped.
        path: PathBuf,
        /// What ran out.
        what: Exhausted,
    },
    /// Reading a file failed.
    #[error("{log}: i/o error on {path}: {source}")]
    Io {
        /// The log.
        log: LogIdent,
        /// The file being read.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

fn resume_hint(next: Option<u64>) -> String {
    match next {
        Some(offset) => format!(" (reading can resume at offset {offset})"),
        None => String::new(),
    }
}

/// A maintenance operation (retention, truncation, segment replacement) failed.
/// The log is left as it was before the operation, or as it is after it; never between.
#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    /// The request does not fit the log (for example replacing the active segment).
    #[error("{log}: {reason}")]
    Invalid {
        /// The log.
        log: LogIdent,
        /// Why the request was refused.
        reason: String,
    },
    /// A file or map could not be opened: the process or the system ran out of
    /// file descriptors or memory maps. Nothing changed; retry once some are free.
    #[error("{log}: {what}, on {path}")]
    Exhausted {
        /// The log.
        log: LogIdent,
        /// The file being opened or mapped.
        path: PathBuf,
        /// What ran out.
        what: Exhausted,
    },
    /// A file operation failed.
    #[error("{log}: i/o error on {path}: {source}")]
    Io {
        /// The log.
        log: LogIdent,
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Reading the data to rewrite hit damage.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Writing after the operation failed.
    #[error(transparent)]
    Append(#[from] AppendError),
    /// The log is poisoned.
    #[error("{log}: log is read-only after a failed fsync")]
    Poisoned {
        /// The log.
        log: LogIdent,
    },
    /// The caller asked the operation to stop (the partition is closing). The pass
    /// under way was abandoned before its commit point: its files are removed and the
    /// log is as it was before that pass.
    #[error("{log}: cancelled")]
    Cancelled {
        /// The log.
        log: LogIdent,
    },
}

/// Builds the `Io` variant of a storage error, or `Exhausted` when the error says the
/// process or system ran out of file descriptors or memory maps.
macro_rules! io_or_exhausted {
    ($error:ident) => {
        impl $error {
            /// Wraps an I/O error on `path`, telling exhaustion apart.
            pub fn io(log: LogIdent, path: PathBuf, source: io::Error) -> $error {
                match Exhausted::of(&source) {
                    Some(what) => $error::Exhausted { log, path, what },
                    None => $error::Io { log, path, source },
                }
            }

            /// What ran out, if this is exhaustion.
            pub fn exhausted(&self) -> Option<Exhausted> {
                match self {
                    $error::Exhausted { what, .. } => Some(*what),
                    _ => None,
                }
            }
        }
    };
}

io_or_exhausted!(OpenError);
io_or_exhausted!(AppendError);
io_or_exhausted!(ReadError);
io_or_exhausted!(MaintenanceError);
