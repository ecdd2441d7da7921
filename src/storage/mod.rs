//! The storage engine: one partition of a topic stored as a sequence of segment files.
//!
//! A synchronous library, tested without an async runtime. The byte-exact format is
//! specified in `storage-format.md` at the repository root.
//!
//! # Layout
//! - [`config`]: [`LogConfig`] and [`FsyncPolicy`], plain data with `validate()`.
//! - [`record`]: [`Record`] (what is appended) and [`StoredRecord`] (what is read).
//! - [`error`]: typed errors carrying topic, partition, segment and position.
//! - [`log`]: [`Log`], the partition log: append with group commit, read, maintenance.
//! - [`lock`]: [`DirLock`], the exclusive lock on a data directory.
//! - [`sync_timing`]: timed `fdatasync` on the append path (the one metric the engine
//!   reports, through the `metrics` facade).
//! - [`open_segments`]: [`OpenSegments`], the cap on loaded sealed segments shared by
//!   the logs of a broker.
//! - [`batch`]: the batch formats, version 2 (Kafka's RecordBatch v2, [`batch_v2`],
//!   with [`varint`] and [`compression`]) written by appends, and version 1
//!   ([`batch_v1`]) still read.
//! - [`producer_state`] and [`producer_snapshot`]: idempotent producers per partition
//!   (duplicates, sequences, fencing) and the snapshots that spare a replay on open.

pub mod api_types;
mod append;
pub mod batch;
pub mod batch_v1;
pub mod batch_v2;
pub mod checkpoint;
pub mod clean_shutdown;
pub mod client_batch;
pub mod compaction;
#[cfg(test)]
mod compressed_batch_tests;
pub mod compression;
pub mod config;
#[cfg(test)]
mod disk_full_tests;
pub mod error;
pub mod exhausted;
#[cfg(test)]
pub(crate) mod fault;
#[cfg(test)]
mod format_upgrade_tests;
pub mod fsutil;
#[cfg(test)]
mod idempotent_tests;
pub mod index;
pub mod lock;
pub mod log;
mod maintenance;
mod mmap;
pub mod open_segments;
#[cfg(test)]
mod panic_tests;
#[cfg(test)]
pub(crate) mod power_loss;
#[cfg(test)]
mod power_loss_tests;
pub mod pread;
pub mod producer_snapshot;
pub mod producer_state;
mod producers;
pub mod raw_batches;
#[cfg(test)]
mod raw_batches_tests;
pub mod raw_read;
mod read;
#[cfg(test)]
mod read_fault_tests;
pub mod record;
pub mod recovery;
mod reset;
#[cfg(test)]
mod retire_tests;
mod rewrite;
#[cfg(test)]
mod rewrite_fault_tests;
pub mod scan;
pub mod scrub;
pub mod segment;
pub mod segment_age;
pub mod shared_index;
pub mod swap;
mod swap_output;
pub mod sync_timing;
#[cfg(test)]
pub(crate) mod sync_watch;
#[cfg(test)]
mod truncate_race_tests;
pub mod varint;
pub mod verify;
mod zero_ahead;

pub use api_types::{AppendInfo, DeletedSegments, LogStats, ReadLimits, ReadOutcome, SegmentInfo};
pub use compaction::{CompactionConfig, CompactionStats};
pub use config::{FsyncPolicy, LogConfig};
pub use error::{AppendError, ConfigError, LogIdent, MaintenanceError, OpenError, ReadError};
pub use exhausted::Exhausted;
pub use lock::DirLock;
pub use log::Log;
pub use open_segments::OpenSegments;
pub use raw_batches::RawBatch;
pub use raw_read::RawRead;
pub use record::{Header, Record, StoredRecord};
pub use rewrite::{Cancel, RewriteStats};
