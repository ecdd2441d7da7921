//! The HTTP listener's lifecycle, shaped like the Kafka one: bound before the broker
//! opens (a taken port or a bad TLS setting fails the start untouched), started once
//! the broker serves its cluster role, stopped before the cluster shuts down. With TLS
//! each connection is handshaken (within the gRPC port's time limit) before HTTP/1.1
//! is spoken on it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::broker::Broker;
use crate::service::tls::ServerTls;
use crate::service::tokens::TokenTable;

/// Longest a TLS handshake may take, as on the gRPC port.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound, not yet serving, HTTP listener.
pub struct HttpListener {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
}

impl HttpListener {
    /// Binds `addr`; with `tls`, connections must speak TLS first.
    pub async fn bind(addr: SocketAddr, tls: Option<&ServerTls>) -> std::io::Result<HttpListener> {
        let tls = tls
            .map(super::tls::acceptor)
            .transpose()
            .map_err(|why| std::io::Error::new(std::io::ErrorKind::InvalidInput, why))?;
        Ok(HttpListener {
            listener: TcpListener::bind(addr).await?,
            tls,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves the API and console until the broker begins shutting down or
    /// [`RunningHttp::stop`]; `tokens` turns on the same token checks as on gRPC.
    pub fn start(self, broker: Arc<Broker>, tokens: Option<Arc<TokenTable>>) -> RunningHttp {
        let stop = broker.shutdown_token().child_token();
        let secure = self.tls.is_some();
        if let Ok(addr) = self.listener.local_addr() {
            tracing::info!(%addr, tls = secure, auth = tokens.is_some(), "serving HTTP API and console");
        }
        let app = super::router(broker, tokens, secure);
        let until = stop.clone();
        let task = match self.tls {
            None => tokio::spawn(async move {
                let served = axum::serve(self.listener, app)
                    .with_graceful_shutdown(async move { until.cancelled().await })
                    .await;
                if let Err(error) = served {
                    tracing::warn!(%error, "HTTP API listener failed");
                }
            }),
            Some(acceptor) => tokio::spawn(serve_tls(self.listener, acceptor, app, until)),
        };
        RunningHttp { stop, task }
    }
}

/// Accepts TLS connections until `stop`; each is served on its own task, and the
/// tasks end with this one (aborting this task drops the set).
async fn serve_tls(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
    stop: CancellationToken,
) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.cancelled() => break,
        };
        let (tcp, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                tracing::debug!(%error, "HTTP accept failed");
                continue;
            }
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        connections.spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(error)) => {
                    return tracing::debug!(%peer, %error, "HTTP TLS handshake failed");
                }
                Err(_) => return tracing::debug!(%peer, "HTTP TLS handshake timed out"),
            };
            let service = TowerToHyperService::new(app);
            let served = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
            if let Err(error) = served {
                tracing::debug!(%peer, %error, "HTTP connection ended with an error");
            }
        });
        // Reap finished connections so the set holds only live ones.
        while connections.try_join_next().is_some() {}
    }
    while connections.join_next().await.is_some() {}
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
