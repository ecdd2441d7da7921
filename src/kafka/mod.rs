//! The Kafka wire-protocol listener: a second adapter over the [`broker`](crate::broker),
//! next to the gRPC service, so unmodified Kafka clients (librdkafka, kafka-python,
//! kcat) produce to and read from the same topics, partitions, producer ids and group
//! offsets.
//!
//! Like the gRPC service it holds no broker logic: each API handler converts the Kafka
//! request (decoded by the `kafka-protocol` crate), calls the broker, and converts the
//! answer back; broker errors become Kafka error codes in [`errors`] and nowhere else.
//!
//! # Layout
//! - [`listener`]: binding, the accept loop (with the server's TLS certificate, the TLS
//!   handshake) and shutdown; [`connection`]: one client's request loop (requests are
//!   answered one at a time, in order, as Kafka does);
//!   [`frame`]: length-prefixed frames bounded by `--kafka-max-request-bytes`.
//! - [`request`]: a frame's body decoded (header, API and version check, message), the
//!   one decoding of request bytes, which the fuzz target calls too; [`dispatch`]: the
//!   handler call and the answer; [`versions`]: the APIs and versions this listener
//!   implements.
//! - [`api`]: one file per API handler; [`records`]: produced record batches to broker
//!   records; [`fetched_batches`]: stored batches as a fetch answer's records;
//!   [`errors`]: broker errors to Kafka error codes; [`context`]: what every
//!   handler needs (the broker, this node's advertised address, settings, and the
//!   connection's authentication); [`group_protocol`]: what the consumer-group APIs
//!   share (the consumer protocol's subscriptions and assignments, where group calls
//!   are served); [`cluster_view`]: the brokers, partition leaders and coordinator
//!   that Metadata and FindCoordinator name (in a cluster, every node with a Kafka
//!   listener).
//! - [`sasl`]: SASL/PLAIN with the server's tokens; [`authorize`]: the role and name
//!   scope each request needs; [`refusals`]: the answers to requests a token may not
//!   make.
//! - [`topic_configs`]: topic configuration under Kafka's config names
//!   (DescribeConfigs, IncrementalAlterConfigs).

pub mod api;
pub mod authorize;
pub mod cluster_view;
pub mod connection;
pub mod context;
pub mod dispatch;
pub mod errors;
pub mod fetched_batches;
pub mod frame;
pub mod group_protocol;
pub mod listener;
pub mod records;
pub mod refusals;
pub mod request;
pub mod sasl;
pub mod topic_configs;
pub mod versions;

use std::net::SocketAddr;

pub use listener::{KafkaListener, KafkaServer};

/// Default of `--kafka-max-request-bytes`: the gRPC listener's message limit, so both
/// listeners accept the same largest produce.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 64 << 20;

/// Settings of the Kafka listener: plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// `host:port` that Metadata and FindCoordinator return; `None`: the bound address
    /// (refused when that is a wildcard address, which clients cannot connect to).
    pub advertised: Option<String>,
    /// Largest request frame accepted; a bigger one closes the connection.
    pub max_request_bytes: usize,
    /// Whether Metadata creates a topic it is asked about and that does not exist (when
    /// the client allows it too), as Kafka's `auto.create.topics.enable`.
    pub auto_create_topics: bool,
}

impl KafkaConfig {
    /// Listening on `listen` with the defaults: no advertised override, 64 MiB frames,
    /// no auto-creation.
    pub fn new(listen: SocketAddr) -> KafkaConfig {
        KafkaConfig {
            listen,
            advertised: None,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            auto_create_topics: false,
        }
    }
}
