//! One file per Kafka API. Each handler converts the decoded request, calls the broker,
//! and converts the result (or the broker's error, through
//! [`errors`](super::errors)) into the response; none holds broker logic.

pub mod alter_configs;
pub mod api_versions;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_topics;
pub mod describe_configs;
pub mod describe_groups;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_fetch;
pub mod produce;
pub mod sasl_authenticate;
pub mod sasl_handshake;
pub mod sync_group;

use kafka_protocol::protocol::StrBytes;

/// A protocol string from a Rust one.
pub(crate) fn text(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_string())
}
