//! `eventlog serve`: run the server until SIGINT or SIGTERM.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::parse::{parse_duration, parse_max_open_segments, parse_size};
use crate::broker::BrokerConfig;
use crate::cluster::RaftTiming;
use crate::kafka::KafkaConfig;
use crate::service::connection_limits::ConnectionLimits;
use crate::service::server::ClusterSettings;
use crate::service::status::exhausted_hint;
use crate::service::tls::ServerTls;
use crate::service::tokens::TokenTable;
use crate::service::{ServeError, ServerConfig, serve_addr};
use crate::storage::FsyncPolicy;
use crate::storage::producer_state::ProducerLimits;

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
    /// Read rate of the background check of every sealed segment after a start (e.g.
    /// 64MiB per second); 0 turns it off.
    #[arg(long, env = "EVENTLOG_SCRUB_RATE", default_value = "64MiB", value_parser = parse_size)]
    pub scrub_rate: u64,
    /// Most request bytes all calls together may hold in memory (at least 64MiB, the
    /// largest message); a gRPC request beyond it is refused with RESOURCE_EXHAUSTED
    /// (retry later), a Kafka request waits to be read.
    #[arg(long, env = "EVENTLOG_MAX_REQUEST_MEMORY", default_value = "256MiB", value_parser = parse_size)]
    pub max_request_memory: u64,
    /// Longest a request message may take to arrive once its first bytes reserved its
    /// memory (e.g. 30s); a slower call fails with DEADLINE_EXCEEDED and frees it.
    #[arg(long, env = "EVENTLOG_REQUEST_BODY_TIMEOUT", default_value = "30s", value_parser = parse_positive_duration)]
    pub request_body_timeout: Duration,
    /// Most client connections open at once; more are refused at accept.
    #[arg(long, env = "EVENTLOG_MAX_CONNECTIONS", default_value = "4096", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Most client connections open at once from one IP address.
    #[arg(long, env = "EVENTLOG_MAX_CONNECTIONS_PER_IP", default_value = "1024", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections_per_ip: u32,
    /// Remove a consumer group with no commit for this long (Kafka's
    /// offsets.retention.minutes); 0s keeps groups forever.
    #[arg(long, env = "EVENTLOG_GROUP_RETENTION", default_value = "7d", value_parser = parse_duration)]
    pub group_retention: Duration,
    /// Most consumer groups; a commit that would create one more is refused.
    #[arg(long, env = "EVENTLOG_MAX_GROUPS", default_value = "100000", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_groups: u32,
    /// Most members of one consumer group (GroupSubscribe); a join beyond it is refused
    /// with RESOURCE_EXHAUSTED.
    #[arg(long, env = "EVENTLOG_MAX_GROUP_MEMBERS", default_value = "1000", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_group_members: u32,
    /// Forget an idempotent producer that has not produced to a partition for this long
    /// (Kafka's producer.id.expiration.ms); its retries after that are not recognised.
    #[arg(long, env = "EVENTLOG_PRODUCER_ID_EXPIRATION", default_value = "1d", value_parser = parse_duration)]
    pub producer_id_expiration: Duration,
    /// Most idempotent producers tracked per partition; a new one past it is refused
    /// until idle ones expire.
    #[arg(long, env = "EVENTLOG_MAX_PRODUCERS_PER_PARTITION", default_value = "10000", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_producers_per_partition: u32,
    /// Most producer names (InitProducer with a name).
    #[arg(long, env = "EVENTLOG_MAX_PRODUCER_NAMES", default_value = "100000", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_producer_names: u32,
    /// Longest wait for requests in flight at shutdown (e.g. 10s).
    #[arg(long, env = "EVENTLOG_SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,
    /// Serve Prometheus metrics over plain HTTP on this address (e.g. 127.0.0.1:9464;
    /// keep it on loopback, it has no authentication). Off when unset.
    #[arg(long, env = "EVENTLOG_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Serve TLS with this PEM certificate chain (needs --tls-key).
    #[arg(long, env = "EVENTLOG_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "EVENTLOG_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates signed by this PEM CA (mutual TLS; needs --tls-cert).
    #[arg(long, env = "EVENTLOG_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// Require a bearer token on every RPC: one token per line, optionally followed by
    /// a role (admin, producer or consumer; default admin) and topic=PREFIX /
    /// group=PREFIX / producer=PREFIX scopes. See docs/security.md.
    #[arg(long, env = "EVENTLOG_AUTH_TOKEN_FILE")]
    pub auth_token_file: Option<PathBuf>,
    /// This node's id in a cluster (1 to 1023, unique in the cluster). Without
    /// it the server is a single node.
    #[arg(long, env = "EVENTLOG_NODE_ID", value_parser = clap::value_parser!(u64).range(1..=1023))]
    pub node_id: Option<u64>,
    /// The nodes that form a new cluster, as ID=HOST:PORT,... (this node included, at
    /// the address the others reach it). Only bootstraps an empty data directory: the
    /// node with the lowest id initialises the cluster once a majority is up; later the
    /// membership lives in the cluster itself.
    #[arg(long, env = "EVENTLOG_CLUSTER", requires = "node_id", value_parser = parse_cluster)]
    pub cluster: Option<BTreeMap<u64, String>>,
    /// Start a new node that joins an existing cluster instead of bootstrapping one: it
    /// waits, with an empty data directory, until `eventlog cluster add-node` adds it.
    #[arg(
        long,
        env = "EVENTLOG_JOIN",
        requires = "node_id",
        conflicts_with = "cluster"
    )]
    pub join: bool,
    /// How often a partition's leader sends heartbeats to its followers.
    #[arg(long, env = "EVENTLOG_RAFT_HEARTBEAT", default_value = "200ms", value_parser = parse_positive_duration)]
    pub raft_heartbeat: Duration,
    /// How long followers wait without a heartbeat before electing a new leader (each
    /// group waits a random time between this and twice this); more than the heartbeat.
    #[arg(long, env = "EVENTLOG_RAFT_ELECTION_TIMEOUT", default_value = "600ms", value_parser = parse_positive_duration)]
    pub raft_election_timeout: Duration,
    /// The cluster's metadata group (topics and consumer-group commits) snapshots its
    /// state after this many entries and then drops older entries, bounding its log.
    #[arg(long, env = "EVENTLOG_METADATA_SNAPSHOT_EVERY", default_value_t = crate::cluster::runtime::DEFAULT_METADATA_SNAPSHOT_EVERY, value_parser = clap::value_parser!(u64).range(1..))]
    pub metadata_snapshot_every: u64,
    /// How often the cluster's metadata leader hands partitions' leadership back to
    /// their preferred leaders (the first replica), a few partitions per run, where
    /// that replica is up and caught up after a failover; 0 or "off" turns it off
    /// (`eventlog cluster balance-leaders` still does it on demand).
    #[arg(long, env = "EVENTLOG_LEADER_BALANCE_INTERVAL", default_value = "30s", value_parser = parse_interval_or_off)]
    pub leader_balance_interval: Duration,
    /// A cluster node with --tls-cert reaches its peers over TLS and trusts this PEM CA
    /// for their certificates (it presents its own --tls-cert to them).
    #[arg(long, env = "EVENTLOG_CLUSTER_CA", requires = "node_id")]
    pub cluster_ca: Option<PathBuf>,
    /// A cluster node with --auth-token-file sends the token in this file to its peers;
    /// their token files must grant it the `node` role.
    #[arg(long, env = "EVENTLOG_CLUSTER_TOKEN_FILE", requires = "node_id")]
    pub cluster_token_file: Option<PathBuf>,
    /// Fault injection, not for production: ID=HOST:PORT,... makes this node dial node
    /// ID at HOST:PORT (a proxy a test can cut) instead of the address the cluster
    /// advertises. Hidden: tests set `EVENTLOG_PEER_ROUTES` (docs/cluster.md).
    #[arg(long, env = "EVENTLOG_PEER_ROUTES", hide = true, requires = "node_id", value_parser = parse_cluster)]
    pub peer_routes: Option<BTreeMap<u64, String>>,
    /// Also serve the Kafka wire protocol on this address (e.g. 127.0.0.1:9092), over
    /// the same topics and groups. Off when unset. TLS with --tls-cert, as the gRPC
    /// port; with --auth-token-file, clients authenticate with SASL/PLAIN (a token as
    /// the password), and without TLS the address must be a loopback one.
    #[arg(long, env = "EVENTLOG_KAFKA_LISTEN")]
    pub kafka_listen: Option<SocketAddr>,
    /// Also serve the web console at / and the HTTP/JSON API under /api/v1/ on this
    /// address (e.g. 127.0.0.1:8080). Off when unset. Uses the same TLS settings and
    /// tokens (--auth-token-file) as the gRPC port.
    #[arg(long, env = "EVENTLOG_HTTP_LISTEN")]
    pub http_listen: Option<SocketAddr>,
    /// host:port Kafka clients are told to connect to (Metadata, FindCoordinator);
    /// default: the --kafka-listen address.
    #[arg(
        long,
        env = "EVENTLOG_KAFKA_ADVERTISED_ADDRESS",
        requires = "kafka_listen"
    )]
    pub kafka_advertised_address: Option<String>,
    /// Largest Kafka request accepted (1KiB to 2GiB, e.g. 64MiB); a bigger one closes
    /// its connection.
    #[arg(long, env = "EVENTLOG_KAFKA_MAX_REQUEST_BYTES", default_value = "64MiB", value_parser = parse_kafka_request_size)]
    pub kafka_max_request_bytes: u64,
    /// Create a topic (one partition) when a Kafka client asks for its metadata and it
    /// does not exist, as Kafka's auto.create.topics.enable.
    #[arg(
        long,
        env = "EVENTLOG_KAFKA_AUTO_CREATE_TOPICS",
        requires = "kafka_listen"
    )]
    pub kafka_auto_create_topics: bool,
}

/// Parses `ID=HOST:PORT,...`.
fn parse_cluster(text: &str) -> Result<BTreeMap<u64, String>, String> {
    let mut nodes = BTreeMap::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, addr) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?} is not ID=HOST:PORT"))?;
        let id: u64 = id
            .trim()
            .parse()
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| format!("{id:?} is not a node id (a positive integer)"))?;
        let addr = addr.trim();
        if addr
            .rsplit_once(':')
            .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
        {
            return Err(format!("{addr:?} is not HOST:PORT"));
        }
        if nodes.insert(id, addr.to_string()).is_some() {
            return Err(format!("node {id} is listed twice"));
        }
    }
    if nodes.is_empty() {
        return Err("no nodes listed".into());
    }
    Ok(nodes)
}

/// The cluster settings of the arguments, checked against each other.
fn cluster_settings(args: &ServeArgs) -> anyhow::Result<Option<ClusterSettings>> {
    let Some(node_id) = args.node_id else {
        return Ok(None);
    };
    let security = super::serve_peers::peer_security(args)?;
    let bootstrap = args.cluster.clone().unwrap_or_default();
    if !bootstrap.is_empty() && !bootstrap.contains_key(&node_id) {
        anyhow::bail!("--cluster does not list this node's id {node_id}");
    }
    let fresh = !args.data_dir.join("cluster").join("meta").exists();
    if fresh && bootstrap.is_empty() && !args.join {
        anyhow::bail!(
            "{} holds no cluster yet: give --cluster ID=HOST:PORT,... to bootstrap one, or --join to be added to a running cluster with `eventlog cluster add-node`",
            args.data_dir.display()
        );
    }
    let heartbeat = args.raft_heartbeat.as_millis() as u64;
    let election = args.raft_election_timeout.as_millis() as u64;
    if election <= heartbeat {
        anyhow::bail!("--raft-election-timeout must be longer than --raft-heartbeat");
    }
    Ok(Some(ClusterSettings {
        node_id,
        bootstrap,
        timing: RaftTiming {
            heartbeat_ms: heartbeat,
            election_min_ms: election,
            election_max_ms: election * 2,
        },
        metadata_snapshot_every: args.metadata_snapshot_every,
        security,
        leader_balance: Some(args.leader_balance_interval).filter(|d| !d.is_zero()),
    }))
}

/// Runs the server until a shutdown signal.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    // Read before listening, so a bad file stops the start with its name.
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(ServerTls::load(cert, key, args.tls_client_ca.as_deref())?),
        _ => None,
    };
    let auth = args
        .auth_token_file
        .as_deref()
        .map(TokenTable::load)
        .transpose()?;
    let cluster = cluster_settings(&args)?;
    if let Some(addr) = args.metrics_listen {
        crate::telemetry::install(addr)?;
    }
    let config = ServerConfig {
        broker: BrokerConfig {
            data_dir: args.data_dir,
            fsync: args.fsync,
            default_segment_bytes: args.default_segment_bytes,
            max_open_segments: args.max_open_segments,
            scrub_bytes_per_sec: args.scrub_rate,
            group_retention: args.group_retention,
            max_groups: args.max_groups as usize,
            max_group_members: args.max_group_members as usize,
            max_producer_names: args.max_producer_names as usize,
            producer_limits: ProducerLimits {
                max_producers: args.max_producers_per_partition as usize,
                expiration_ms: i64::try_from(args.producer_id_expiration.as_millis())
                    .unwrap_or(i64::MAX),
            },
            ..BrokerConfig::default()
        },
        shutdown_grace: args.shutdown_grace,
        tls,
        auth,
        request_budget_bytes: args.max_request_memory,
        request_body_timeout: args.request_body_timeout,
        connection_limits: ConnectionLimits {
            max_connections: args.max_connections,
            max_connections_per_ip: args.max_connections_per_ip,
        },
        cluster,
        kafka: args.kafka_listen.map(|listen| KafkaConfig {
            listen,
            advertised: args.kafka_advertised_address,
            max_request_bytes: usize::try_from(args.kafka_max_request_bytes).unwrap_or(usize::MAX),
            auto_create_topics: args.kafka_auto_create_topics,
        }),
        http: args.http_listen,
    };
    serve_addr(config, args.listen, shutdown_signal())
        .await
        .map_err(with_hint)?;
    Ok(())
}

/// A Kafka request size limit: at least a small request, at most what Kafka's signed
/// 32-bit frame length can announce.
fn parse_kafka_request_size(text: &str) -> Result<u64, String> {
    match parse_size(text)? {
        size if (1 << 10..=i32::MAX as u64).contains(&size) => Ok(size),
        _ => Err("must be from 1KiB to 2GiB".to_string()),
    }
}

/// A duration, where 0 (or "off") means never.
fn parse_interval_or_off(text: &str) -> Result<Duration, String> {
    match text.trim() {
        "off" | "0" => Ok(Duration::ZERO),
        other => parse_duration(other),
    }
}

/// A duration above zero (a zero timeout would fail every request).
fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        zero if zero.is_zero() => Err("must be more than 0".to_string()),
        duration => Ok(duration),
    }
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
