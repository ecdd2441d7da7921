//! eventlog: a durable append-only event log store with a gRPC API.
//!
//! # Layout
//! Imports go one way, top to bottom: the CLI calls the client or the service, the
//! service calls the broker, the broker calls storage.
//! - [`cli`]: argument parsing and the commands of the `eventlog` binary.
//! - [`bench`]: the load generator behind `eventlog bench` (a client like any other).
//! - [`client`]: a gRPC client connection with the project's limits and keepalive, and a
//!   producer that retries idempotently.
//! - [`service`]: the tonic adapter: request conversion, status codes, server runtime.
//! - [`kafka`]: the Kafka wire-protocol adapter, a second listener over the same broker.
//! - [`telemetry`]: Prometheus metrics of `serve` (exporter, traffic counters, gauges).
//! - [`proto`]: code generated from `proto/eventlog/v1`.
//! - [`broker`]: topics, partitions, placement, notifiers, subscriptions.
//! - [`storage`]: the synchronous storage engine (segments, indexes, recovery); it knows
//!   nothing of async, gRPC or the CLI.

pub mod bench;
pub mod broker;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod http;
pub mod kafka;
pub mod proto;
pub mod service;
pub mod storage;
pub mod telemetry;
