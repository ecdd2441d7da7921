//! How a node secures its calls to other nodes: TLS (trusting the cluster's CA and
//! presenting the node's own certificate, for servers that require client
//! certificates) and a token holding the `node` role, which only node-to-node services
//! accept. A server with TLS or tokens serves its peers through the same checks as its
//! clients, so a cluster is secured exactly when each node's client port is.
//!
//! It also holds the fault-injection routes (`EVENTLOG_PEER_ROUTES`): addresses this
//! node dials instead of some peers' advertised ones, so tests can put a proxy
//! between each pair of nodes and cut it.

use std::collections::BTreeMap;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// A node's settings for its calls to peers.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PeerSecurity {
    /// PEM certificates the peers' certificates must chain to; TLS is on when set.
    pub ca_pem: Option<Vec<u8>>,
    /// The node's certificate chain and key (PEM), presented to peers.
    pub identity_pem: Option<(Vec<u8>, Vec<u8>)>,
    /// The token sent with every call (it must hold the `node` role on the peers).
    pub token: Option<String>,
    /// Fault injection only: node id → the address this node dials that node at,
    /// instead of the one the cluster advertises (a proxy a test can cut). Empty in
    /// production.
    pub routes: BTreeMap<u64, String>,
}

impl std::fmt::Debug for PeerSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerSecurity")
            .field("tls", &self.ca_pem.is_some())
            .field("identity", &self.identity_pem.is_some())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("routes", &self.routes)
            .finish()
    }
}

impl PeerSecurity {
    /// The TLS settings of calls to peers, when TLS is on.
    pub fn tls(&self) -> Option<ClientTlsConfig> {
        let ca = self.ca_pem.as_ref()?;
        let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
        if let Some((cert, key)) = &self.identity_pem {
            config = config.identity(Identity::from_pem(cert, key));
        }
        Some(config)
    }

    /// The `authorization` header value for calls to peers, if any.
    pub fn authorization(&self) -> Result<Option<MetadataValue<Ascii>>, String> {
        self.token
            .as_ref()
            .map(|token| {
                format!("Bearer {token}")
                    .parse()
                    .map_err(|_| "the cluster token is not a valid header value".to_string())
            })
            .transpose()
    }
}
