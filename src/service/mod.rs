//! The gRPC service: a thin tonic adapter over the [`broker`](crate::broker).
//!
//! Each RPC converts its request, makes one call into the broker and converts the
//! reply; every error becomes a status code in [`status`] and nowhere else.
//!
//! # Layout
//! - [`event_log`]: `eventlog.v1.EventLog` (produce, fetch, subscribe, list offsets).
//! - [`subscribe`]: the flow-controlled response stream of `Subscribe`;
//!   [`subscription_slots`]: the server-wide cap on open subscriptions.
//! - [`auto_commit`]: committing what a group subscription handed to the transport.
//! - [`member_stream`]: a group member's `GroupSubscribe` stream; [`member_convert`]:
//!   its messages and the membership in `DescribeGroup`.
//! - [`admin`]: `eventlog.v1.Admin` (topics).
//! - [`partition_reads`]: `eventlog.cluster.v1.PartitionReads`, reads another node of
//!   a cluster forwards here because it holds no replica of the partition.
//! - [`replica_maintenance`]: `eventlog.cluster.v1.ReplicaMaintenance`, another node
//!   asks this one to compact its replicas of a topic (on-demand compaction).
//! - [`cleanup_convert`]: conversions of `UpdateTopicConfig` and `CompactTopic`.
//! - [`convert`]: wire types to domain types and back; [`group_convert`]: the same for
//!   consumer groups.
//! - [`status`]: domain errors to gRPC status codes; [`codec`]: undecodable requests
//!   are INVALID_ARGUMENT; [`message_limit`]: oversized requests are RESOURCE_EXHAUSTED;
//!   [`request_budget`]: a server-wide cap on request bytes held in memory, shared out
//!   per connection, with a deadline for each message's body ([`message_framing`]
//!   finds the messages); [`health_limits`]: the health service's own small limits.
//! - [`rpc_metrics`]: per-RPC latency and error codes, around each service;
//!   [`counted_connection`]: the open-connections gauge and what a request knows of
//!   its connection.
//! - [`server`]: the server runtime (health, reflection, limits, keepalive, shutdown);
//!   [`listener`]: one listener's accept pipeline, with [`accept_pacing`] (pausing
//!   accepts while out of file descriptors), [`connection_limits`] (caps in all and per
//!   address) and [`connection_refusal`] (what a refused client is told).
//! - [`tls`]: certificates and keys from PEM files; [`auth`]: the bearer-token check in
//!   front of every service, with [`tokens`] (the token file), [`access`] (the role
//!   each RPC needs) and [`scope`] (the topic and group prefixes a token may name);
//!   [`exposure`]: warnings for a server reachable without them.

pub mod accept_pacing;
pub mod access;
pub mod admin;
pub mod auth;
pub mod auto_commit;
pub mod cleanup_convert;
pub mod cluster_convert;
pub use crate::proto::codec;
pub mod connection_limits;
pub mod connection_refusal;
pub mod convert;
pub mod counted_connection;
pub mod event_log;
pub mod exposure;
pub mod group_convert;
pub mod group_forward;
pub mod health_limits;
pub mod listener;
pub mod member_convert;
pub mod member_stream;
pub mod message_framing;
pub mod message_limit;
pub mod partition_reads;
pub mod raw_delivery;
pub mod replica_maintenance;
pub mod request_budget;
pub mod rpc_metrics;
pub mod scope;
pub mod server;
pub mod status;
pub mod subscribe;
pub mod subscription_slots;
pub mod tls;
pub mod tokens;

pub use admin::AdminService;
pub use event_log::EventLogService;
pub use server::{ServeError, ServerConfig, serve, serve_addr};

/// Largest gRPC message accepted or sent, on the server and the client alike (64 MiB):
/// above the largest produce batch (16 MiB) and the largest fetch reply (16 MiB plus one
/// oversized record), so no valid exchange is cut off.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;
