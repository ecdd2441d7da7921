//! A gRPC client connection to an eventlog server, with the same message limits as the
//! server and HTTP/2 keepalive.

use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

use crate::proto::v1::admin_client::AdminClient;
use crate::proto::v1::event_log_client::EventLogClient;
use crate::service::MAX_MESSAGE_BYTES;

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
    #[error("cannot connect to {address}: {source}")]
    Connect {
        /// The address given.
        address: String,
        /// The transport error.
        #[source]
        source: tonic::transport::Error,
    },
}

/// Clients of both services over one connection.
#[derive(Clone)]
pub struct Client {
    /// The `EventLog` service.
    pub event_log: EventLogClient<Channel>,
    /// The `Admin` service.
    pub admin: AdminClient<Channel>,
}

impl Client {
    /// Connects to `address` (for example `http://127.0.0.1:50051`).
    pub async fn connect(address: &str) -> Result<Client, ConnectError> {
        let endpoint = Endpoint::from_shared(address.to_string())
            .map_err(|source| ConnectError::BadAddress {
                address: address.to_string(),
                source,
            })?
            .connect_timeout(Duration::from_secs(5))
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(10))
            .tcp_nodelay(true);
        let channel = endpoint
            .connect()
            .await
            .map_err(|source| ConnectError::Connect {
                address: address.to_string(),
                source,
            })?;
        Ok(Client::from_channel(channel))
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
        };
        self.event_log
            .commit_offsets(request)
            .await
            .map(tonic::Response::into_inner)
    }

    /// Clients over an existing channel, with the project's message limits.
    pub fn from_channel(channel: Channel) -> Client {
        Client {
            event_log: EventLogClient::new(channel.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
            admin: AdminClient::new(channel)
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        }
    }
}
