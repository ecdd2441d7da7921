//! The gRPC service: a thin tonic adapter over the [`broker`](crate::broker).
//!
//! Each RPC converts its request, makes one call into the broker and converts the
//! reply; every error becomes a status code in [`status`] and nowhere else.
//!
//! # Layout
//! - [`event_log`]: `eventlog.v1.EventLog` (produce, fetch, subscribe, list offsets).
//! - [`subscribe`]: the flow-controlled response stream of `Subscribe`.
//! - [`auto_commit`]: committing what a group subscription handed to the transport.
//! - [`admin`]: `eventlog.v1.Admin` (topics).
//! - [`cleanup_convert`]: conversions of `UpdateTopicConfig` and `CompactTopic`.
//! - [`convert`]: wire types to domain types and back; [`group_convert`]: the same for
//!   consumer groups.
//! - [`status`]: domain errors to gRPC status codes.
//! - [`server`]: the server runtime (health, reflection, limits, keepalive, shutdown);
//!   [`accept_pacing`]: pausing accepts while out of file descriptors.

pub mod accept_pacing;
pub mod admin;
pub mod auto_commit;
pub mod cleanup_convert;
pub mod convert;
pub mod event_log;
pub mod group_convert;
pub mod server;
pub mod status;
pub mod subscribe;

pub use admin::AdminService;
pub use event_log::EventLogService;
pub use server::{ServeError, ServerConfig, serve, serve_addr};

/// Largest gRPC message accepted or sent, on the server and the client alike (64 MiB):
/// above the largest produce batch (16 MiB) and the largest fetch reply (16 MiB plus one
/// oversized record), so no valid exchange is cut off.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;
