//! A gRPC client connection to an eventlog server, with the same message limits as the
//! server and HTTP/2 keepalive; over TLS for `https://` addresses, and with a bearer
//! token on every request when one is given ([`ConnectOptions`]); [`producer`], a
//! producer that places records itself and retries them idempotently; and
//! [`group_member`], a consumer-group member sharing a group's partitions.

pub mod batch_builder;
pub mod group_member;
pub mod node_watch;
pub mod producer;
pub mod raw_batches;
pub mod subscriber;

use std::fmt;
use std::time::Duration;

use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::proto::v1::admin_client::AdminClient;
use crate::proto::v1::event_log_client::EventLogClient;
use crate::service::MAX_MESSAGE_BYTES;
use crate::service::tls::error_chain;

/// Connecting to a server failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The address is not a valid URI.
    #[error("invalid server address {address:?}: {source}")]
    BadAddress {
        /// The address given.
        address: String,
        /// Why it is invalid.
        #[source]
        source: tonic::transport::Error,
    },
    /// No connection could be made.
    #[error("cannot connect to {address}: {}", error_chain(error))]
    Connect {
        /// The address given.
        address: String,
        /// The transport error (its causes are in the message: tonic's own text is
        /// only "transport error").
        error: tonic::transport::Error,
    },
    /// The TLS settings do not fit the address or cannot be used.
    #[error("TLS settings for {address}: {reason}")]
    Tls {
        /// The address given.
        address: String,
        /// What is wrong.
        reason: String,
    },
    /// The token cannot be sent in an HTTP header.
    #[error("the token has characters an HTTP header cannot carry (use printable ASCII)")]
    BadToken,
}

/// How to reach a server beyond its address: a token and, for `https://`, TLS.
#[derive(Clone, Default)]
pub struct ConnectOptions {
    /// Bearer token sent with every request.
    pub token: Option<String>,
    /// PEM certificate(s) of the CA that signed the server's certificate; required for
    /// `https://` addresses (no system roots are consulted).
    pub tls_ca: Option<Vec<u8>>,
    /// PEM client certificate and private key, for servers that require mutual TLS.
    pub tls_identity: Option<(Vec<u8>, Vec<u8>)>,
    /// Name the server's certificate must carry, when it differs from the address's
    /// host (for example when connecting by IP to a certificate for a DNS name).
    pub tls_server_name: Option<String>,
}

impl fmt::Debug for ConnectOptions {
    // Neither the token nor the key may reach a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("tls_ca", &self.tls_ca.is_some())
            .field("tls_identity", &self.tls_identity.is_some())
            .field("tls_server_name", &self.tls_server_name)
            .finish()
    }
}

/// Adds `authorization: Bearer <token>` to every request (nothing without a token).
#[derive(Clone, Default)]
pub struct Credentials {
    authorization: Option<AsciiMetadataValue>,
}

impl Credentials {
    /// Credentials carrying `token`.
    pub fn bearer(token: &str) -> Result<Credentials, ConnectError> {
        let mut value = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|_| ConnectError::BadToken)?;
        // Sensitive values are never added to HTTP/2's header compression table.
        value.set_sensitive(true);
        Ok(Credentials {
            authorization: Some(value),
        })
    }
}

impl Interceptor for Credentials {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.authorization {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// The transport of both clients: the connection plus the credentials.
pub type Transport = InterceptedService<Channel, Credentials>;

/// Clients of both services over one connection.
#[derive(Clone)]
pub struct Client {
    /// The `EventLog` service.
    pub event_log: EventLogClient<Transport>,
    /// The `Admin` service.
    pub admin: AdminClient<Transport>,
}

impl Client {
    /// Connects to `address` (for example `http://127.0.0.1:50051`).
    pub async fn connect(address: &str) -> Result<Client, ConnectError> {
        Self::connect_with(address, &ConnectOptions::default()).await
    }

    /// Connects to `address` with a token and TLS settings; an `https://` address means
    /// TLS and needs [`ConnectOptions::tls_ca`].
    ///
    /// Several comma-separated addresses name nodes of one cluster: requests are spread
    /// over the nodes that answer, and a node that stops answering is left out until it
    /// answers again (any node serves any request, handing it to the right leader; see
    /// [`node_watch`]).
    pub async fn connect_with(
        address: &str,
        options: &ConnectOptions,
    ) -> Result<Client, ConnectError> {
        let credentials = match &options.token {
            Some(token) => Credentials::bearer(token)?,
            None => Credentials::default(),
        };
        let addresses: Vec<&str> = address
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .collect();
        if addresses.len() > 1 {
            let endpoints = addresses
                .iter()
                .map(|a| endpoint_for(a, options))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(Client::from_parts(
                node_watch::watched(endpoints).await,
                credentials,
            ));
        }
        let endpoint = endpoint_for(address, options)?;
        let channel = endpoint
            .connect()
            .await
            .map_err(|error| ConnectError::Connect {
                address: address.to_string(),
                error,
            })?;
        Ok(Client::from_parts(channel, credentials))
    }

    /// Commits `offsets` — (partition, next offset to read) pairs, without metadata —
    /// for `group` on `topic`.
    pub async fn commit_offsets(
        &mut self,
        group: &str,
        topic: &str,
        offsets: &[(u32, u64)],
    ) -> Result<crate::proto::v1::CommitOffsetsResponse, tonic::Status> {
        use crate::proto::v1 as pb;
        let offsets = offsets
            .iter()
            .map(|&(partition, next_offset)| pb::OffsetCommit {
                partition,
                next_offset,
                metadata: String::new(),
            })
            .collect();
        let request = pb::CommitOffsetsRequest {
            group: group.to_string(),
            topic: topic.to_string(),
            offsets,
            ..Default::default()
        };
        self.event_log
            .commit_offsets(request)
            .await
            .map(tonic::Response::into_inner)
    }

    /// Clients over an existing channel, with the project's message limits.
    pub fn from_channel(channel: Channel) -> Client {
        Client::from_parts(channel, Credentials::default())
    }

    /// Clients over an existing channel that send `credentials` with every request.
    pub fn from_parts(channel: Channel, credentials: Credentials) -> Client {
        Client {
            event_log: EventLogClient::with_interceptor(channel.clone(), credentials.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
            admin: AdminClient::with_interceptor(channel, credentials)
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        }
    }
}

/// Largest HTTP/2 frame this client accepts (the protocol's limit is 16 MiB - 1).
const MAX_FRAME_BYTES: u32 = 1 << 20;

/// The endpoint of one server address, with the client's timeouts and TLS settings.
fn endpoint_for(address: &str, options: &ConnectOptions) -> Result<Endpoint, ConnectError> {
    let endpoint = Endpoint::from_shared(address.to_string())
        .map_err(|source| ConnectError::BadAddress {
            address: address.to_string(),
            source,
        })?
        .connect_timeout(Duration::from_secs(5))
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        // Replies of raw batches run to megabytes: at HTTP/2's default 16 KiB a 100 KB
        // fetch reply arrives as 7 DATA frames, each one more wake-up of the connection
        // task and of the call on both sides. The server sends frames up to the size
        // this client advertises.
        .max_frame_size(MAX_FRAME_BYTES);
    with_tls(endpoint, address, options)
}

/// Applies `options`' TLS settings to `endpoint`: required for `https://`, refused for
/// `http://` (settings that would silently go unused hide a plaintext connection).
fn with_tls(
    endpoint: Endpoint,
    address: &str,
    options: &ConnectOptions,
) -> Result<Endpoint, ConnectError> {
    let tls_error = |reason: String| ConnectError::Tls {
        address: address.to_string(),
        reason,
    };
    let https = endpoint.uri().scheme_str() == Some("https");
    let has_settings = options.tls_ca.is_some()
        || options.tls_identity.is_some()
        || options.tls_server_name.is_some();
    if !https {
        return match has_settings {
            true => Err(tls_error(
                "TLS options were given but the address is not https://".into(),
            )),
            false => Ok(endpoint),
        };
    }
    let Some(ca) = &options.tls_ca else {
        return Err(tls_error(
            "an https:// address needs the CA certificate that signed the server's certificate (--tls-ca)".into(),
        ));
    };
    let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
    if let Some((cert, key)) = &options.tls_identity {
        config = config.identity(Identity::from_pem(cert, key));
    }
    if let Some(name) = &options.tls_server_name {
        config = config.domain_name(name.clone());
    }
    endpoint.tls_config(config).map_err(|e| {
        tls_error(std::error::Error::source(&e).map_or_else(|| e.to_string(), error_chain))
    })
}
