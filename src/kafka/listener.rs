//! Binding the Kafka port, accepting connections (each served by its own task, at most
//! a configured number at once, all within one budget of request memory), and stopping: no new connections once the broker
//! begins shutting down, then a bounded wait for the open ones.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::KafkaConfig;
use super::connection::{self, ConnectionLimits, Shared, Stream};
use super::context::Context;
use super::sasl::Session;
use crate::broker::Broker;
use crate::service::tokens::TokenTable;

/// A bound, not yet serving Kafka port (bound before the broker opens, so a taken port
/// fails the start before any data is touched).
pub struct KafkaListener {
    listener: TcpListener,
    config: KafkaConfig,
    host: String,
    port: i32,
    tls: Option<TlsAcceptor>,
}

impl KafkaListener {
    /// Binds `config.listen` and works out the advertised address.
    pub async fn bind(config: KafkaConfig) -> std::io::Result<KafkaListener> {
        let listener = TcpListener::bind(config.listen).await?;
        let local = listener.local_addr()?;
        let (host, port) = advertised(config.advertised.as_deref(), local)?;
        Ok(KafkaListener {
            listener,
            config,
            host,
            port,
            tls: None,
        })
    }

    /// Serves TLS with `acceptor` (clients use `security.protocol` SSL or SASL_SSL).
    pub fn with_tls(mut self, acceptor: TlsAcceptor) -> KafkaListener {
        self.tls = Some(acceptor);
        self
    }

    /// The address clients are told to connect to, as `host:port` (`[host]:port` for an
    /// IPv6 host).
    pub fn advertised_address(&self) -> String {
        match self.host.contains(':') {
            true => format!("[{}]:{}", self.host, self.port),
            false => format!("{}:{}", self.host, self.port),
        }
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until the broker begins shutting down or [`KafkaServer::stop`], with at
    /// most `max_connections` connections and `request_memory` bytes of requests (never
    /// less than one largest request) held at once; with `tokens`, every connection
    /// authenticates with SASL/PLAIN first.
    pub fn start(
        self,
        broker: Arc<Broker>,
        max_connections: u32,
        request_memory: u64,
        tokens: Option<Arc<TokenTable>>,
    ) -> KafkaServer {
        let stop = broker.shutdown_token().child_token();
        let limits = ConnectionLimits {
            max_request_bytes: self.config.max_request_bytes,
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(600),
        };
        if let Ok(addr) = self.listener.local_addr() {
            tracing::info!(%addr, advertised = %format!("{}:{}", self.host, self.port),
                tls = self.tls.is_some(), auth = tokens.is_some(), "serving kafka protocol");
        }
        let ctx = Arc::new(Context {
            broker,
            host: self.host,
            port: self.port,
            auto_create_topics: self.config.auto_create_topics,
            session: Arc::new(Session::new(tokens.clone())),
            tokens,
        });
        let slots = Arc::new(Semaphore::new(max_connections as usize));
        let memory = usize::try_from(request_memory)
            .unwrap_or(usize::MAX)
            .clamp(self.config.max_request_bytes, Semaphore::MAX_PERMITS);
        let shared = Shared {
            memory: Arc::new(Semaphore::new(memory)),
        };
        let task = tokio::spawn(accept_loop(
            self.listener,
            self.tls,
            ctx,
            limits,
            shared,
            slots,
            stop.clone(),
        ));
        KafkaServer { stop, task }
    }
}

/// A serving Kafka listener.
pub struct KafkaServer {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl KafkaServer {
    /// Stops accepting, closes connections between requests, and waits up to `grace`
    /// for requests in flight before cutting the rest.
    pub async fn stop(self, grace: Duration) {
        self.stop.cancel();
        let mut task = self.task;
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            task.abort();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    ctx: Arc<Context>,
    limits: ConnectionLimits,
    shared: Shared,
    slots: Arc<Semaphore>,
    stop: CancellationToken,
) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.cancelled() => break,
            // Reap finished connections so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors and the like: back off rather than spin.
                tracing::warn!(error = %err, "kafka accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::warn!(%peer, "refusing a kafka connection: too many open");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (ctx, shared, stop) = (Arc::clone(&ctx), shared.clone(), stop.clone());
        let tls = tls.clone();
        connections.spawn(async move {
            let stream = match tls {
                None => Stream::Plain(stream),
                Some(acceptor) => match handshake(&acceptor, stream).await {
                    Ok(tls) => Stream::Tls(Box::new(tls)),
                    Err(reason) => {
                        return tracing::debug!(%peer, %reason, "kafka TLS handshake failed");
                    }
                },
            };
            connection::serve(ctx, stream, peer, limits, shared, stop).await;
            drop(slot);
        });
    }
    drop(listener);
    // Connections end between requests once `stop` is cancelled; a request in flight
    // finishes first (the caller bounds the wait).
    while connections.join_next().await.is_some() {}
}

/// Longest a TLS handshake may take: a peer that connects and stays silent must not
/// hold a connection slot.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
) -> Result<tokio_rustls::server::TlsStream<TcpStream>, String> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Ok(tls),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("timed out".into()),
    }
}

/// The advertised host and port: `advertised` if given (`host:port`), else `local`,
/// which must then not be a wildcard address.
fn advertised(advertised: Option<&str>, local: SocketAddr) -> std::io::Result<(String, i32)> {
    let invalid = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, why);
    match advertised {
        Some(text) => {
            let (host, port) = text
                .rsplit_once(':')
                .ok_or_else(|| invalid(format!("advertised address {text:?} is not host:port")))?;
            let port: u16 = port
                .parse()
                .map_err(|_| invalid(format!("advertised address {text:?} has no valid port")))?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if host.is_empty() {
                return Err(invalid(format!("advertised address {text:?} has no host")));
            }
            Ok((host.to_string(), i32::from(port)))
        }
        None if local.ip().is_unspecified() => Err(invalid(format!(
            "listening on {local} needs --kafka-advertised-address: clients cannot connect to a wildcard address"
        ))),
        None => Ok((local.ip().to_string(), i32::from(local.port()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_advertised_address_defaults_to_the_bound_one_but_not_a_wildcard() {
        let local: SocketAddr = "127.0.0.1:9092".parse().expect("addr");
        assert_eq!(
            advertised(None, local).expect("bound"),
            ("127.0.0.1".into(), 9092)
        );
        let any: SocketAddr = "0.0.0.0:9092".parse().expect("addr");
        assert!(advertised(None, any).is_err());
        assert_eq!(
            advertised(Some("kafka.example:19092"), any).expect("given"),
            ("kafka.example".into(), 19092)
        );
        assert!(advertised(Some("no-port"), any).is_err());
    }
}
