//! Small value types of the log's public API.

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of the first record of the batch.
    pub base_offset: u64,
    /// Offset of the last record of the batch.
    pub last_offset: u64,
    /// Largest record timestamp of the batch (ms since the epoch).
    pub max_timestamp_ms: i64,
    /// True when an idempotent producer's batch had been appended already: the offsets
    /// are those of the original append, and nothing new was written.
    pub duplicate: bool,
}

/// Bounds of one read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// Most records to return (at least one is returned if any exists).
    pub max_records: usize,
    /// Most bytes to return, counted as encoded record sizes; exceeded only to
    /// return a single record larger than it.
    pub max_bytes: usize,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            max_records: 1000,
            max_bytes: 1 << 20,
        }
    }
}

/// The result of a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOutcome {
    /// Records in offset order, all below the high watermark.
    pub records: Vec<super::StoredRecord>,
    /// The offset to read next: one past the last record returned, or the high
    /// watermark when nothing was returned (everything below it was passed over).
    pub next_offset: u64,
    /// The high watermark when the read was served.
    pub high_watermark: u64,
    /// The log start offset when the read was served.
    pub log_start_offset: u64,
}

/// Size and bounds of a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogStats {
    /// First readable offset.
    pub log_start_offset: u64,
    /// One past the last durable offset.
    pub high_watermark: u64,
    /// Number of segments, the active one included.
    pub segment_count: usize,
    /// Bytes of record data on disk (segment data, not preallocated space or indexes).
    pub size_bytes: u64,
}

/// What deleting old segments removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeletedSegments {
    /// Segments removed.
    pub segments: usize,
    /// Data bytes removed.
    pub bytes: u64,
    /// The new log start offset.
    pub log_start_offset: u64,
}

/// One segment as retention and tools see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentInfo {
    /// First offset the segment may hold.
    pub base_offset: u64,
    /// One past the last offset it covers (for the active segment: written so far).
    pub next_offset: u64,
    /// Bytes of data (header and batches).
    pub size_bytes: u64,
    /// Largest record timestamp in it (`i64::MIN` when empty).
    pub max_timestamp_ms: i64,
    /// Whether it is sealed (only sealed segments can be deleted or rewritten).
    pub sealed: bool,
}
