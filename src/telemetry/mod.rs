//! Prometheus metrics for `eventlog serve --metrics-listen ADDR`.
//!
//! Metrics go through the `metrics` facade. Its recorder is process-global and only
//! `serve` installs one ([`install`]); without it (embedded brokers, in-process test
//! servers, benches) every recording is a no-op, so nothing here needs to know whether
//! metrics are on, except the gauge reporter, which does not start without a recorder.
//!
//! # Layout
//! - [`names`]: every metric's name and what it measures (the HELP text).
//! - [`exporter`]: installing the recorder and its HTTP endpoint, with histogram buckets.
//! - [`traffic`]: records and bytes produced and delivered per topic; open streams.
//! - [`reporter`]: the thread that refreshes partition and consumer-group gauges.
//!
//! Per-RPC latency and error codes are measured by
//! [`RpcMetrics`](crate::service::rpc_metrics::RpcMetrics) in the gRPC adapter; the
//! storage engine times its `fdatasync` calls itself
//! ([`sync_timing`](crate::storage::sync_timing)).

pub mod exporter;
pub mod names;
pub mod reporter;
pub mod traffic;

pub use exporter::{MetricsError, install, installed};
pub use reporter::GaugeReporter;
