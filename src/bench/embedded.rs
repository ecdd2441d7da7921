//! A server on a temporary data directory inside the benchmark's process, so one
//! command measures everything (`eventlog bench ... --embedded`).

use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::BenchError;
use crate::broker::BrokerConfig;
use crate::service::{ServeError, ServerConfig, serve};
use crate::storage::FsyncPolicy;

/// A running embedded server; dropping it without [`EmbeddedServer::stop`] leaks nothing
/// but leaves the shutdown to the runtime.
pub struct EmbeddedServer {
    /// The address clients connect to.
    pub url: String,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), ServeError>>,
    _dir: tempfile::TempDir,
}

impl EmbeddedServer {
    /// Starts a server on `127.0.0.1:0` over a fresh temporary directory.
    pub async fn start(
        fsync: FsyncPolicy,
        segment_bytes: u64,
    ) -> Result<EmbeddedServer, BenchError> {
        let dir = tempfile::tempdir()
            .map_err(|e| BenchError::Embedded(format!("temporary directory: {e}")))?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| BenchError::Embedded(format!("binding 127.0.0.1:0: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| BenchError::Embedded(e.to_string()))?;
        let config = ServerConfig {
            broker: BrokerConfig {
                data_dir: dir.path().to_path_buf(),
                fsync,
                default_segment_bytes: segment_bytes,
                ..BrokerConfig::default()
            },
            shutdown_grace: Duration::from_secs(5),
            ..ServerConfig::default()
        };
        let (stop, signal) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(config, listener, async move {
            let _ = signal.await;
        }));
        Ok(EmbeddedServer {
            url: format!("http://{addr}"),
            stop,
            task,
            _dir: dir,
        })
    }

    /// Stops the server and removes its directory.
    pub async fn stop(self) -> Result<(), BenchError> {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(BenchError::Embedded(e.to_string())),
            Err(e) => Err(BenchError::Embedded(e.to_string())),
        }
    }
}
