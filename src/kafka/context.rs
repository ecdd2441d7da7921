//! What every API handler needs: the broker, this node's advertised address, and the
//! listener's settings. One per listener, shared by its connections.

use std::sync::Arc;

use crate::broker::Broker;

/// The node id this single-node server reports in Metadata and FindCoordinator.
pub const NODE_ID: i32 = 0;

/// The cluster id Metadata reports (clients only compare it between answers).
pub const CLUSTER_ID: &str = "eventlog";

/// Shared state of one Kafka listener.
pub struct Context {
    /// The broker every handler calls.
    pub broker: Arc<Broker>,
    /// Host clients are told to connect to.
    pub host: String,
    /// Port clients are told to connect to.
    pub port: i32,
    /// See [`KafkaConfig::auto_create_topics`](super::KafkaConfig::auto_create_topics).
    pub auto_create_topics: bool,
}
