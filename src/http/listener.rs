//! The HTTP listener's lifecycle, shaped like the Kafka one: bound before the broker
//! opens (a taken port fails the start untouched), started once the broker serves its
//! cluster role, stopped before the cluster shuts down.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::broker::Broker;

/// A bound, not yet serving, HTTP listener.
pub struct HttpListener {
    listener: TcpListener,
}

impl HttpListener {
    /// Binds `addr`.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<HttpListener> {
        Ok(HttpListener {
            listener: TcpListener::bind(addr).await?,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves the API until the broker begins shutting down or [`RunningHttp::stop`].
    pub fn start(self, broker: Arc<Broker>) -> RunningHttp {
        let stop = broker.shutdown_token().child_token();
        if let Ok(addr) = self.listener.local_addr() {
            tracing::info!(%addr, "serving HTTP API");
        }
        let app = super::router(broker);
        let until = stop.clone();
        let task = tokio::spawn(async move {
            let served = axum::serve(self.listener, app)
                .with_graceful_shutdown(async move { until.cancelled().await })
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "HTTP API listener failed");
            }
        });
        RunningHttp { stop, task }
    }
}

/// A serving HTTP listener.
pub struct RunningHttp {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl RunningHttp {
    /// Stops accepting and waits up to `grace` for requests in flight before cutting
    /// the rest.
    pub async fn stop(self, grace: Duration) {
        self.stop.cancel();
        let mut task = self.task;
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            task.abort();
        }
    }
}
