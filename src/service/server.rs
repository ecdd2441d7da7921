//! Running the gRPC server: our two services beside health and reflection, explicit
//! message limits and HTTP/2 keepalive, and a graceful shutdown bounded in time.
//!
//! Shutdown, once the signal future completes: health turns NOT_SERVING; the broker
//! refuses new work and ends open subscriptions and long-polls with UNAVAILABLE; the
//! server stops accepting and waits (at most `shutdown_grace`) for requests in flight
//! (appends already under way complete); then every log is synced and closed and the
//! directory lock released.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;

use super::auth::Authorized;
use super::connection_limits::ConnectionLimits;
use super::exposure::exposure_warnings;
use super::health_limits::{HEALTH_MAX_MESSAGE_BYTES, HealthLimits};
use super::message_limit::MessageLimit;
use super::partition_reads::PartitionReadsService;
use super::replica_maintenance::ReplicaMaintenanceService;
use super::request_budget::{Budget, RequestBudget};
use super::rpc_metrics::RpcMetrics;
use super::tls::ServerTls;
use super::tokens::TokenTable;
use super::{AdminService, EventLogService, MAX_MESSAGE_BYTES};
use crate::broker::{Broker, BrokerConfig, BrokerError};
use crate::cluster::control::ControlService;
use crate::cluster::network::MAX_MESSAGE_BYTES as CLUSTER_MAX_MESSAGE_BYTES;
use crate::cluster::{Cluster, ClusterConfig};
use crate::http::HttpListener;
use crate::kafka::{KafkaConfig, KafkaListener};
use crate::proto::cluster::cluster_control_server::ClusterControlServer;
use crate::proto::cluster::partition_reads_server::PartitionReadsServer;
use crate::proto::cluster::raft_transport_server::RaftTransportServer;
use crate::proto::cluster::replica_maintenance_server::ReplicaMaintenanceServer;
use crate::proto::v1::admin_server::AdminServer;
use crate::proto::v1::event_log_server::EventLogServer;

/// Interval of HTTP/2 PING frames on idle connections, to notice dead peers.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// Largest HTTP/2 frame a client may send (HTTP/2's default is 16 KiB). A produce
/// request of 100 KB then arrives as one DATA frame instead of seven, each of which
/// woke the call's task (often on the other worker thread): measured with one 100 KB
/// durable batch in flight, 0.69-0.71M records/s before and 0.87-0.92M after
/// (`eventlog bench produce --records 1000000 --batch 1000`), with less server CPU.
/// Memory is bounded by the request budget and the flow-control windows, not by this.
const MAX_FRAME_BYTES: u32 = 1 << 20;
/// How long a PING may go unanswered before the connection is closed.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most HTTP/2 streams (calls) open at once on one connection. Without a limit tonic
/// advertises none, and one client could open any number of subscriptions, each with
/// its own buffers; over the limit a client's further calls wait for a free stream.
pub const MAX_STREAMS_PER_CONNECTION: u32 = 256;

/// Server settings: plain data with defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The broker's settings (data directory, fsync policy, ...).
    pub broker: BrokerConfig,
    /// Longest wait for requests in flight at shutdown before connections are cut.
    /// Default 10 s.
    pub shutdown_grace: Duration,
    /// TLS on the gRPC port (`None`: plaintext). Default `None`.
    pub tls: Option<ServerTls>,
    /// Tokens every RPC but health must carry (`None`: no authentication). Default `None`.
    pub auth: Option<TokenTable>,
    /// Most request bytes all calls together may hold in memory; a request beyond it is
    /// refused with RESOURCE_EXHAUSTED, not queued (see
    /// [`request_budget`](super::request_budget)). Never less than one largest message.
    /// Default 256 MiB.
    pub request_budget_bytes: u64,
    /// Longest a request message's payload may take to arrive after its first bytes
    /// reserved it from the budget. Default 30 s.
    pub request_body_timeout: Duration,
    /// Caps on the client listener's connections (a node-to-node listener would have
    /// its own). Default 4096 in all, 1024 per IP address.
    pub connection_limits: ConnectionLimits,
    /// This node's place in a cluster (`None`: a single node). Default `None`.
    pub cluster: Option<ClusterSettings>,
    /// The Kafka wire-protocol listener (`None`: off). Default `None`.
    pub kafka: Option<KafkaConfig>,
    /// Address of the HTTP/JSON API (`None`: off). Default `None`.
    pub http: Option<SocketAddr>,
}

/// What makes a server a node of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// This node's id.
    pub node_id: crate::cluster::types::NodeId,
    /// The nodes that bootstrap an empty cluster (id → address), from `--cluster`.
    pub bootstrap: std::collections::BTreeMap<crate::cluster::types::NodeId, String>,
    /// Raft timing.
    pub timing: crate::cluster::RaftTiming,
    /// Entries between the metadata group's snapshots.
    pub metadata_snapshot_every: u64,
    /// How calls to other nodes are secured.
    pub security: crate::cluster::peer_security::PeerSecurity,
    /// How often the metadata leader balances partitions' leadership (`None`: only
    /// when asked).
    pub leader_balance: Option<Duration>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            broker: BrokerConfig::default(),
            shutdown_grace: Duration::from_secs(10),
            tls: None,
            auth: None,
            request_budget_bytes: 256 << 20,
            request_body_timeout: Duration::from_secs(30),
            connection_limits: ConnectionLimits::default(),
            cluster: None,
            kafka: None,
            http: None,
        }
    }
}

/// Running the server failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The broker could not open the data directory.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// Binding or accepting failed.
    #[error("listening on {addr} failed: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The transport failed while serving.
    #[error("gRPC transport failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The reflection service could not be built from our descriptors.
    #[error("building the reflection service failed: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// This node could not start its side of the cluster.
    #[error("starting the cluster node failed: {0}")]
    Cluster(String),
}

/// Binds `addr` and serves until `shutdown` completes.
pub async fn serve_addr(
    config: ServerConfig,
    addr: SocketAddr,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Listen { addr, source })?;
    serve(config, listener, shutdown).await
}

/// Serves on `listener` until `shutdown` completes, then shuts down gracefully.
pub async fn serve(
    config: ServerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    // Bound before the broker opens, so a taken port fails the start untouched.
    let kafka = bind_kafka(&config).await?;
    let http = bind_http(&config).await?;
    let broker_config = config.broker.clone();
    let broker = tokio::task::spawn_blocking(move || Broker::open(broker_config))
        .await
        .map_err(BrokerError::from)??;
    if let Ok(addr) = listener.local_addr() {
        for warning in exposure_warnings(&addr, config.tls.is_some(), config.auth.is_some()) {
            tracing::warn!(%addr, "{warning}");
        }
        tracing::info!(%addr, data_dir = %config.broker.data_dir.display(), fsync = %config.broker.fsync,
            tls = config.tls.is_some(), auth = config.auth.is_some(), "serving");
    }
    let cluster = match &config.cluster {
        Some(settings) => match join(&broker, settings, &config).await {
            Ok(cluster) => Some(cluster),
            Err(error) => {
                tokio::task::spawn_blocking(move || broker.close())
                    .await
                    .map_err(BrokerError::from)?;
                return Err(error);
            }
        },
        None => None,
    };
    // Other nodes' Kafka listeners name this one in their Metadata answers (none
    // recorded when it runs no Kafka listener).
    broker.announce_listeners(kafka.as_ref().map(KafkaListener::advertised_address));
    // Started once the broker serves its cluster role, so no Kafka request reaches a
    // replicated partition as if it were a single node's.
    let kafka = kafka.map(|listener| {
        // The Kafka listener gets caps of the same sizes as the gRPC one's, its own.
        listener.start(
            Arc::clone(&broker),
            config.connection_limits.max_connections,
            config.request_budget_bytes,
            config.auth.clone().map(Arc::new),
        )
    });
    let tokens = config.auth.clone().map(Arc::new);
    let http = http.map(|listener| listener.start(Arc::clone(&broker), tokens));
    let result = run(&broker, listener, shutdown, &config).await;
    if let Some(http) = http {
        http.stop(config.shutdown_grace).await;
    }
    // Kafka connections first: their requests go through the cluster.
    if let Some(kafka) = kafka {
        kafka.stop(config.shutdown_grace).await;
    }
    if let Some(cluster) = cluster {
        cluster.shutdown().await;
    }
    tokio::task::spawn_blocking(move || broker.close())
        .await
        .map_err(BrokerError::from)?;
    result
}

/// Starts this node's side of the cluster and has the broker serve its replicas.
async fn join(
    broker: &Arc<Broker>,
    settings: &ClusterSettings,
    config: &ServerConfig,
) -> Result<Arc<Cluster>, ServeError> {
    let cluster = Cluster::start(ClusterConfig {
        node_id: settings.node_id,
        bootstrap: settings.bootstrap.clone(),
        dir: config.broker.data_dir.join("cluster"),
        timing: settings.timing,
        fsync: config.broker.fsync,
        metadata_snapshot_every: settings.metadata_snapshot_every,
        security: settings.security.clone(),
        leader_balance: settings.leader_balance,
    })
    .await
    .map_err(|e| ServeError::Cluster(e.to_string()))?;
    broker.join_cluster(Arc::clone(&cluster)).await?;
    tracing::info!(node_id = settings.node_id, "joined the cluster");
    Ok(cluster)
}

async fn run(
    broker: &Arc<Broker>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
    config: &ServerConfig,
) -> Result<(), ServeError> {
    let grace = config.shutdown_grace;
    // Every service goes behind the token check; the access table keeps health open.
    let tokens = config.auth.clone().map(Arc::new);
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<EventLogServer<EventLogService>>()
        .await;
    health.set_serving::<AdminServer<AdminService>>().await;
    let event_log = EventLogServer::new(EventLogService::new(Arc::clone(broker)))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let admin = AdminServer::new(AdminService::new(Arc::clone(broker)))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    // Layers, inside out: oversized requests get RESOURCE_EXHAUSTED rather than tonic's
    // OUT_OF_RANGE; request bodies are read within the shared memory budget; the token
    // check runs before any request body is read; metrics
    // sit outermost so they count the code the client really sees, refusals included.
    let (event_log, admin) = (MessageLimit::new(event_log), MessageLimit::new(admin));
    let budget = Budget::new(config.request_budget_bytes, config.request_body_timeout);
    let event_log = RequestBudget::new(event_log, budget.clone());
    let admin = RequestBudget::new(admin, budget.clone());
    let event_log = RpcMetrics::new(Authorized::new(event_log, tokens.clone()));
    let admin = RpcMetrics::new(Authorized::new(admin, tokens.clone()));
    let _gauges = crate::telemetry::GaugeReporter::start(broker);
    let stop_accepting = CancellationToken::new();
    let mut builder = Server::builder()
        .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
        .max_frame_size(MAX_FRAME_BYTES)
        .tcp_nodelay(true);
    if let Some(tls) = &config.tls {
        // tonic runs the TLS handshake on each connection `incoming` yields, so the
        // custom incoming below is encrypted too.
        builder = builder.tls_config(tls.tonic_config())?;
    }
    // Health answers without a token and outside the budget: small limits of its own.
    let health_service = MessageLimit::new(HealthLimits::new(
        health_service
            .max_decoding_message_size(HEALTH_MAX_MESSAGE_BYTES)
            .max_encoding_message_size(HEALTH_MAX_MESSAGE_BYTES),
    ));
    let router = builder
        .add_service(Authorized::new(health_service, tokens.clone()))
        .add_service(Authorized::new(reflection().build_v1()?, tokens.clone()))
        .add_service(Authorized::new(
            reflection().build_v1alpha()?,
            tokens.clone(),
        ))
        .add_service(event_log)
        .add_service(admin);
    // Node-to-node traffic, on the same port, when this node is in a cluster; behind
    // the token check too, where only the `node` role opens it.
    let router = match broker.cluster() {
        Some(cluster) => router
            .add_service(Authorized::new(
                RaftTransportServer::new(cluster.node().transport())
                    .max_decoding_message_size(CLUSTER_MAX_MESSAGE_BYTES)
                    .max_encoding_message_size(CLUSTER_MAX_MESSAGE_BYTES),
                tokens.clone(),
            ))
            .add_service(Authorized::new(
                ClusterControlServer::new(ControlService::new(cluster))
                    .max_decoding_message_size(CLUSTER_MAX_MESSAGE_BYTES)
                    .max_encoding_message_size(CLUSTER_MAX_MESSAGE_BYTES),
                tokens.clone(),
            ))
            .add_service(Authorized::new(
                PartitionReadsServer::new(PartitionReadsService::new(Arc::clone(broker)))
                    .max_decoding_message_size(CLUSTER_MAX_MESSAGE_BYTES)
                    .max_encoding_message_size(CLUSTER_MAX_MESSAGE_BYTES),
                tokens.clone(),
            ))
            .add_service(Authorized::new(
                ReplicaMaintenanceServer::new(ReplicaMaintenanceService::new(Arc::clone(broker))),
                tokens.clone(),
            )),
        None => router,
    };
    let plaintext = config.tls.is_none();
    let incoming = super::listener::admitted(listener, config.connection_limits, budget, plaintext);
    let mut server = tokio::spawn(
        router.serve_with_incoming_shutdown(incoming, stop_accepting.clone().cancelled_owned()),
    );
    tokio::select! {
        () = shutdown => {}
        finished = &mut server => return flatten(finished),
    }
    tracing::info!("shutting down");
    health
        .set_not_serving::<EventLogServer<EventLogService>>()
        .await;
    health.set_not_serving::<AdminServer<AdminService>>().await;
    broker.begin_shutdown();
    stop_accepting.cancel();
    match tokio::time::timeout(grace, &mut server).await {
        Ok(finished) => flatten(finished),
        Err(_) => {
            tracing::warn!(
                ?grace,
                "requests still open after the grace period; closing their connections"
            );
            server.abort();
            Ok(())
        }
    }
}

/// Binds the Kafka listener if one is configured, with the gRPC port's TLS settings.
/// With token authentication, Kafka clients present their token over SASL/PLAIN,
/// which sends it in the clear: without TLS that is refused beyond loopback.
async fn bind_kafka(config: &ServerConfig) -> Result<Option<KafkaListener>, ServeError> {
    let Some(kafka) = &config.kafka else {
        return Ok(None);
    };
    let addr = kafka.listen;
    let invalid = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, why);
    if config.auth.is_some() && config.tls.is_none() && !addr.ip().is_loopback() {
        let why = "with --auth-token-file and no TLS the Kafka listener would take tokens in the clear (SASL/PLAIN): listen on a loopback address (e.g. 127.0.0.1:9092) or give --tls-cert and --tls-key";
        return Err(ServeError::Listen {
            addr,
            source: invalid(why.into()),
        });
    }
    let mut listener = KafkaListener::bind(kafka.clone())
        .await
        .map_err(|source| ServeError::Listen { addr, source })?;
    if let Some(tls) = &config.tls {
        let config = tls.rustls_config().map_err(|why| ServeError::Listen {
            addr,
            source: invalid(why),
        })?;
        listener = listener.with_tls(tokio_rustls::TlsAcceptor::from(Arc::new(config)));
    }
    if let Ok(bound) = listener.local_addr() {
        for warning in exposure_warnings(&bound, config.tls.is_some(), config.auth.is_some()) {
            tracing::warn!(addr = %bound, "kafka listener: {warning}");
        }
    }
    Ok(Some(listener))
}

/// Binds the HTTP API's address, if asked for, with the gRPC port's TLS settings (its
/// token checks are applied when it starts).
async fn bind_http(config: &ServerConfig) -> Result<Option<HttpListener>, ServeError> {
    let Some(addr) = config.http else {
        return Ok(None);
    };
    let listener = HttpListener::bind(addr, config.tls.as_ref())
        .await
        .map_err(|source| ServeError::Listen { addr, source })?;
    if let Ok(bound) = listener.local_addr() {
        let (tls, auth) = (config.tls.is_some(), config.auth.is_some());
        for warning in exposure_warnings(&bound, tls, auth) {
            tracing::warn!(addr = %bound, "http listener: {warning}");
        }
    }
    Ok(Some(listener))
}

/// Reflection over our services and health, so tools need no .proto files.
fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}

fn flatten(
    finished: Result<Result<(), tonic::transport::Error>, tokio::task::JoinError>,
) -> Result<(), ServeError> {
    finished
        .map_err(BrokerError::from)?
        .map_err(ServeError::from)
}
