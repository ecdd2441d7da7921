//! The name of every metric, with what it measures. `docs/observability.md` lists the
//! same set with labels; the names are part of the interface dashboards depend on.

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};

pub use crate::broker::membership::{
    GROUP_GENERATION, GROUP_MEMBERS, GROUP_REBALANCE_SECONDS, GROUP_REBALANCES,
};
pub use crate::storage::clean_shutdown::SCANS_SKIPPED as RECOVERY_SCANS_SKIPPED;
pub use crate::storage::scrub::SCRUB_UNREADABLE_SEGMENTS;
pub use crate::storage::sync_timing::FSYNC_SECONDS;

/// Counter of records acknowledged to producers, by `topic`.
pub const PRODUCED_RECORDS: &str = "eventlog_produced_records_total";
/// Counter of record bytes (as encoded on disk, without batch headers) acknowledged to
/// producers, by `topic`.
pub const PRODUCED_BYTES: &str = "eventlog_produced_bytes_total";
/// Counter of records handed to consumers, by `topic` and `via` (`fetch`, `subscribe`).
pub const DELIVERED_RECORDS: &str = "eventlog_delivered_records_total";
/// Counter of record bytes handed to consumers, by `topic` and `via`.
pub const DELIVERED_BYTES: &str = "eventlog_delivered_bytes_total";
/// Histogram of request durations in seconds, by `service` and `method`: until the
/// reply (for `Subscribe`: until the stream opened).
pub const RPC_SECONDS: &str = "eventlog_rpc_duration_seconds";
/// Counter of failed requests, by `service`, `method` and `code` (gRPC status name).
pub const RPC_ERRORS: &str = "eventlog_rpc_errors_total";
/// Gauge of each partition's high watermark (next offset to be written), by `topic` and
/// `partition`.
pub const HIGH_WATERMARK: &str = "eventlog_partition_high_watermark";
/// Gauge of each partition's first readable offset, by `topic` and `partition`.
pub const LOG_START_OFFSET: &str = "eventlog_partition_log_start_offset";
/// Gauge of each partition's segment count, the active one included.
pub const SEGMENTS: &str = "eventlog_partition_segments";
/// Gauge of each partition's record data on disk in bytes (segments, not indexes).
pub const PARTITION_BYTES: &str = "eventlog_partition_size_bytes";
/// Gauge of records a consumer group has yet to read, by `group`, `topic`, `partition`.
pub const GROUP_LAG: &str = "eventlog_group_lag";
/// Gauge of open `Subscribe` and `GroupSubscribe` streams.
pub const OPEN_STREAMS: &str = "eventlog_open_streams";
/// Gauge of open client connections to the gRPC port.
pub const OPEN_CONNECTIONS: &str = "eventlog_open_connections";
/// Counter of connections refused at accept, by `limit` (`total`, `per_ip`).
pub const CONNECTIONS_REFUSED: &str = "eventlog_connections_refused_total";

/// Gauge of partitions whose log could not be opened at start-up (each is logged with
/// the cause and answers UNAVAILABLE until a restart opens it).
pub const UNAVAILABLE_PARTITIONS: &str = "eventlog_unavailable_partitions";

/// Gives every metric its HELP text and unit.
pub fn describe() {
    describe_counter!(
        PRODUCED_RECORDS,
        Unit::Count,
        "Records acknowledged to producers."
    );
    describe_counter!(
        PRODUCED_BYTES,
        Unit::Bytes,
        "Bytes of records acknowledged to producers, as encoded on disk."
    );
    describe_counter!(
        DELIVERED_RECORDS,
        Unit::Count,
        "Records handed to consumers."
    );
    describe_counter!(
        DELIVERED_BYTES,
        Unit::Bytes,
        "Bytes of records handed to consumers, as encoded on disk."
    );
    describe_histogram!(
        RPC_SECONDS,
        Unit::Seconds,
        "Time from request to reply; for Subscribe, until the stream opened."
    );
    describe_counter!(
        RPC_ERRORS,
        Unit::Count,
        "Requests that failed, by status code."
    );
    describe_histogram!(
        FSYNC_SECONDS,
        Unit::Seconds,
        "Duration of data fdatasync calls on the append path."
    );
    describe_counter!(
        SCRUB_UNREADABLE_SEGMENTS,
        Unit::Count,
        "Sealed segments the start-up scrub could not read (disk read error)."
    );
    describe_counter!(
        RECOVERY_SCANS_SKIPPED,
        Unit::Count,
        "Partition opens that skipped the active segment's scan (clean-shutdown marker)."
    );
    describe_gauge!(
        UNAVAILABLE_PARTITIONS,
        Unit::Count,
        "Partitions whose log could not be opened at start-up."
    );
    describe_gauge!(HIGH_WATERMARK, Unit::Count, "Next offset to be written.");
    describe_gauge!(LOG_START_OFFSET, Unit::Count, "First readable offset.");
    describe_gauge!(SEGMENTS, Unit::Count, "Segments, the active one included.");
    describe_gauge!(
        PARTITION_BYTES,
        Unit::Bytes,
        "Record data on disk (segments, not indexes)."
    );
    describe_gauge!(GROUP_LAG, Unit::Count, "Records the group has yet to read.");
    describe_counter!(
        GROUP_REBALANCES,
        Unit::Count,
        "Rebalances of a consumer group (generation bumps)."
    );
    describe_gauge!(GROUP_MEMBERS, Unit::Count, "Members of a consumer group.");
    describe_gauge!(
        GROUP_GENERATION,
        Unit::Count,
        "A consumer group's generation."
    );
    describe_histogram!(
        GROUP_REBALANCE_SECONDS,
        Unit::Seconds,
        "Time from a rebalance's start until every partition is with its new owner."
    );
    describe_gauge!(
        OPEN_STREAMS,
        Unit::Count,
        "Open Subscribe and GroupSubscribe streams."
    );
    describe_gauge!(OPEN_CONNECTIONS, Unit::Count, "Open client connections.");
    describe_counter!(
        CONNECTIONS_REFUSED,
        Unit::Count,
        "Connections refused at accept by a connection limit."
    );
}
