//! `eventlog serve`: run the server until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::parse::{parse_duration, parse_max_open_segments, parse_size};
use crate::broker::BrokerConfig;
use crate::service::status::exhausted_hint;
use crate::service::{ServeError, ServerConfig, serve_addr};
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
    /// Most sealed segments (of all partitions) kept memory-mapped at once; the least
    /// recently read are unmapped beyond it. See docs/failure-limits.md for sizing.
    #[arg(long, env = "EVENTLOG_MAX_OPEN_SEGMENTS", default_value = "1024", value_parser = parse_max_open_segments)]
    pub max_open_segments: usize,
    /// Longest wait for requests in flight at shutdown (e.g. 10s).
    #[arg(long, env = "EVENTLOG_SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,
}

/// Runs the server until a shutdown signal.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = ServerConfig {
        broker: BrokerConfig {
            data_dir: args.data_dir,
            fsync: args.fsync,
            default_segment_bytes: args.default_segment_bytes,
            max_open_segments: args.max_open_segments,
            ..BrokerConfig::default()
        },
        shutdown_grace: args.shutdown_grace,
    };
    serve_addr(config, args.listen, shutdown_signal())
        .await
        .map_err(with_hint)?;
    Ok(())
}

/// Adds what to do to a startup failure caused by too few file descriptors or maps
/// (for example more partitions than the file limit allows).
fn with_hint(err: ServeError) -> anyhow::Error {
    match &err {
        ServeError::Broker(broker) if let Some(what) = broker.exhausted() => {
            anyhow::anyhow!("{err}: {}", exhausted_hint(what))
        }
        _ => err.into(),
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
