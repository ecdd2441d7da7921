//! What every API handler needs: the broker, this node's advertised address, and the
//! listener's settings. One per listener, shared by its connections.

use std::sync::Arc;

use super::sasl::Session;
use crate::broker::Broker;
use crate::service::tokens::TokenTable;

/// The node id this single-node server reports in Metadata and FindCoordinator.
pub const NODE_ID: i32 = 0;

/// The cluster id Metadata reports (clients only compare it between answers).
pub const CLUSTER_ID: &str = "eventlog";

/// Shared state of one Kafka listener; each connection works on its own copy (see
/// [`Context::for_connection`]), which carries its authentication.
#[derive(Clone)]
pub struct Context {
    /// The broker every handler calls.
    pub broker: Arc<Broker>,
    /// Host clients are told to connect to.
    pub host: String,
    /// Port clients are told to connect to.
    pub port: i32,
    /// See [`KafkaConfig::auto_create_topics`](super::KafkaConfig::auto_create_topics).
    pub auto_create_topics: bool,
    /// The server's tokens; `None`: no authentication.
    pub tokens: Option<Arc<TokenTable>>,
    /// The authentication of the connection this copy serves.
    pub session: Arc<Session>,
}

impl Context {
    /// A copy for a new connection, not yet authenticated.
    pub fn for_connection(&self) -> Context {
        Context {
            session: Arc::new(Session::new(self.tokens.clone())),
            ..self.clone()
        }
    }
}
