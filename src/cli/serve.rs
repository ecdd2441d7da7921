//! `eventlog serve`: run the server until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::parse::{parse_duration, parse_size};
use crate::broker::BrokerConfig;
use crate::service::{ServerConfig, serve_addr};
use crate::storage::FsyncPolicy;

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Directory holding all data (created if missing; locked while serving).
    #[arg(long, env = "EVENTLOG_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "EVENTLOG_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// When appends reach the disk: always (fdatasync before acknowledging, shared by
    /// concurrent appends), interval:MS, or never (left to the OS).
    #[arg(long, env = "EVENTLOG_FSYNC", default_value = "always")]
    pub fsync: FsyncPolicy,
    /// Segment size for topics created without one (e.g. 1GiB, 64MiB).
    #[arg(long, env = "EVENTLOG_DEFAULT_SEGMENT_BYTES", default_value = "1GiB", value_parser = parse_size)]
    pub default_segment_bytes: u64,
    /// Longest wait for requests in flight at shutdown (e.g. 10s).
    #[arg(long, env = "EVENTLOG_SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,
    /// Serve Prometheus metrics over plain HTTP on this address (e.g. 127.0.0.1:9464;
    /// keep it on loopback, it has no authentication). Off when unset.
    #[arg(long, env = "EVENTLOG_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
}

/// Runs the server until a shutdown signal.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    if let Some(addr) = args.metrics_listen {
        crate::telemetry::install(addr)?;
    }
    let config = ServerConfig {
        broker: BrokerConfig {
            data_dir: args.data_dir,
            fsync: args.fsync,
            default_segment_bytes: args.default_segment_bytes,
            ..BrokerConfig::default()
        },
        shutdown_grace: args.shutdown_grace,
    };
    serve_addr(config, args.listen, shutdown_signal()).await?;
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
///
/// The handlers are registered here, before the server starts, not when the future is
/// first polled: a signal that arrives while the data directory is being opened must
/// stop the server gracefully rather than kill it with the signal's default action.
fn shutdown_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut streams = Vec::new();
    for kind in [SignalKind::interrupt(), SignalKind::terminate()] {
        match signal(kind) {
            Ok(stream) => streams.push(stream),
            Err(err) => tracing::warn!(error = %err, ?kind, "cannot listen for a shutdown signal"),
        }
    }
    async move {
        if streams.is_empty() {
            return std::future::pending().await;
        }
        futures_util::future::select_all(streams.iter_mut().map(|s| Box::pin(s.recv()))).await;
    }
}
