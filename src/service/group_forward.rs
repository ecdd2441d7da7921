//! In a cluster, a consumer group has one **coordinator**: the leader of the metadata
//! group, which holds the groups' positions. Its members, their assignments and the
//! fencing of their commits live there, so every node hands group calls (GroupSubscribe,
//! CommitOffsets, GetCommittedOffsets, DescribeGroup, DeleteGroup, ResetGroupOffsets)
//! to it unchanged and relays the answer: a client may reach the group through any
//! node, and reads its own commits back. (ListGroups is served from each node's
//! mirror of the positions.)
//!
//! A forwarded call carries [`FORWARDED_FOR`] (the original client's address, shown as
//! the member's address) and is always served where it arrives, so a call never
//! travels twice even while leadership moves; the coordinator then refuses what it
//! cannot serve like any node would. The caller's `authorization` header goes along,
//! so the coordinator checks the caller's token, not the forwarding node's.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::transport::Channel;
use tonic::{Request, Response, Status, Streaming};

use super::counted_connection::ConnectionInfo;
use super::member_stream::GroupSubscribeStream;
use crate::broker::Broker;
use crate::cluster::network::MAX_MESSAGE_BYTES;
use crate::proto::v1 as pb;
use crate::proto::v1::admin_client::AdminClient;
use crate::proto::v1::event_log_client::EventLogClient;
use crate::proto::v1::group_subscribe_request::Action;

/// Header naming the original client of a forwarded call.
pub const FORWARDED_FOR: &str = "eventlog-forwarded-for";

/// How long a forwarded unary call may take.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);

/// Messages buffered between the coordinator's stream and the client's.
const RELAY_BUFFER: usize = 16;

/// Where a group call is served.
pub enum Route {
    /// On this node.
    Here,
    /// On the coordinator, through this channel.
    Coordinator(Channel),
}

/// Where a group call carrying `metadata` is served.
pub fn route(broker: &Broker, metadata: &MetadataMap) -> Result<Route, Status> {
    if metadata.contains_key(FORWARDED_FOR) {
        return Ok(Route::Here);
    }
    let Some(cluster) = broker.cluster() else {
        return Ok(Route::Here);
    };
    match cluster.metadata_leader() {
        Some(leader) if leader == cluster.node_id() => Ok(Route::Here),
        Some(leader) => {
            let address = cluster.nodes().get(&leader).cloned().ok_or_else(|| {
                Status::unavailable(format!(
                    "the group coordinator, node {leader}, has no known address yet"
                ))
            })?;
            let channel = cluster
                .node()
                .channels()
                .get(leader, &address)
                .map_err(|e| Status::unavailable(format!("group coordinator {leader}: {e}")))?;
            Ok(Route::Coordinator(channel))
        }
        None => Err(Status::unavailable(
            "no node coordinates consumer groups right now (the cluster's metadata group \
             has no leader; is a majority of nodes up?)",
        )),
    }
}

/// `message` as a call to the coordinator on behalf of `client`, with the caller's
/// token.
fn forwarded<T>(metadata: &MetadataMap, client: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(token) = metadata.get("authorization") {
        request
            .metadata_mut()
            .insert("authorization", token.clone());
    }
    let client = MetadataValue::try_from(client).unwrap_or_else(|_| MetadataValue::from_static(""));
    request.metadata_mut().insert(FORWARDED_FOR, client);
    request
}

/// The client a call came from: the forwarding node's header, else the connection's
/// peer (which the server's own listener records on each connection).
pub fn peer_of<T>(request: &Request<T>) -> String {
    let forwarded = request
        .metadata()
        .get(FORWARDED_FOR)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty());
    if let Some(client) = forwarded {
        return client.to_string();
    }
    request
        .extensions()
        .get::<ConnectionInfo>()
        .map(|info| info.remote)
        .or_else(|| request.remote_addr())
        .map_or_else(String::new, |addr| addr.to_string())
}

fn event_log(channel: Channel) -> EventLogClient<Channel> {
    EventLogClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

fn admin(channel: Channel) -> AdminClient<Channel> {
    AdminClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// A coordinator that cannot be reached is UNAVAILABLE (the client retries); its own
/// answers pass through unchanged.
fn unreachable(status: Status) -> Status {
    match status.code() {
        tonic::Code::Unknown | tonic::Code::Internal if status.message().contains("transport") => {
            Status::unavailable(format!(
                "the group coordinator is unreachable: {}",
                status.message()
            ))
        }
        _ => status,
    }
}

/// A unary group call, forwarded.
macro_rules! forward_unary {
    ($name:ident, $client:ident, $req:ty, $resp:ty) => {
        #[doc = concat!("Forwards `", stringify!($name), "` to the coordinator.")]
        pub async fn $name(
            channel: Channel,
            metadata: &MetadataMap,
            client: &str,
            message: $req,
        ) -> Result<Response<$resp>, Status> {
            let mut request = forwarded(metadata, client, message);
            request.set_timeout(FORWARD_TIMEOUT);
            $client(channel).$name(request).await.map_err(unreachable)
        }
    };
}

forward_unary!(
    commit_offsets,
    event_log,
    pb::CommitOffsetsRequest,
    pb::CommitOffsetsResponse
);
forward_unary!(
    get_committed_offsets,
    event_log,
    pb::GetCommittedOffsetsRequest,
    pb::GetCommittedOffsetsResponse
);
forward_unary!(
    describe_group,
    admin,
    pb::DescribeGroupRequest,
    pb::DescribeGroupResponse
);
forward_unary!(
    delete_group,
    admin,
    pb::DeleteGroupRequest,
    pb::DeleteGroupResponse
);
forward_unary!(
    reset_group_offsets,
    admin,
    pb::ResetGroupOffsetsRequest,
    pb::ResetGroupOffsetsResponse
);

/// Forwards a member's stream: `join` (already read and checked here) and then every
/// later message go to the coordinator, its answers come back. Either side ending
/// ends both; the member then joins again, as after any lost connection. `slot` (this
/// node's count of open streams) is held while the relay runs.
pub async fn group_subscribe<S: Send + 'static>(
    channel: Channel,
    metadata: &MetadataMap,
    client: &str,
    join: pb::JoinGroup,
    inbound: Streaming<pb::GroupSubscribeRequest>,
    slot: S,
) -> Result<GroupSubscribeStream, Status> {
    let first = pb::GroupSubscribeRequest {
        action: Some(Action::Join(join)),
    };
    let rest = inbound.map_while(Result::ok);
    let outbound = tokio_stream::once(first).chain(rest);
    let request = forwarded(metadata, client, outbound);
    let mut answers = event_log(channel)
        .group_subscribe(request)
        .await
        .map_err(unreachable)?
        .into_inner();
    let (sender, receiver) = mpsc::channel(RELAY_BUFFER);
    tokio::spawn(async move {
        let _slot = slot;
        while let Some(answer) = answers.next().await {
            let failed = answer.is_err();
            if sender.send(answer.map_err(unreachable)).await.is_err() || failed {
                return;
            }
        }
    });
    Ok(ReceiverStream::new(receiver))
}
