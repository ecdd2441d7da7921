//! One request: decode it (header, API and version check, message: see
//! [`request`](super::request)), call its handler, and encode the answer with the
//! response header the version calls for.
//!
//! As Kafka does, an unknown API key, an unserved version or an undecodable request
//! closes the connection (there is no well-formed way to answer it), with the reason
//! logged; ApiVersions at an unknown version is the exception, answered in version 0
//! with UNSUPPORTED_VERSION so that a newer client can retry at a version we serve.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::Encodable;

use super::api;
use super::authorize::{self, Admission};
use super::context::Context;
use super::request::{DecodedRequest, RequestError, decode_request};

/// What the connection does after a request.
#[derive(Debug)]
pub enum Outcome {
    /// Send this frame body (response header and message).
    Reply(BytesMut),
    /// Send nothing (a produce with acks=0).
    NoReply,
    /// Close the connection, logging why.
    Close(String),
}

/// Handles one request frame.
pub async fn handle(ctx: &Context, frame: Bytes) -> Outcome {
    let DecodedRequest {
        key,
        version,
        header,
        message: request,
    } = match decode_request(frame) {
        Ok(decoded) => decoded,
        Err(RequestError::UnsupportedVersion {
            key: ApiKey::ApiVersions,
            correlation_id,
            ..
        }) => {
            return encode(
                ApiKey::ApiVersions,
                0,
                correlation_id,
                &ResponseKind::ApiVersions(api::api_versions::unsupported()),
            );
        }
        Err(err) => return Outcome::Close(err.to_string()),
    };
    let correlation_id = header.correlation_id;
    let client_id = header.client_id.as_ref().map_or("", |c| c.as_str());
    // With tokens: authenticated first, then only what the token's grants allow.
    let request = match authorize::admit(ctx, key, request, version).await {
        Admission::Admit(request) => request,
        Admission::Answer(response) => return encode(key, version, correlation_id, &response),
        Admission::Close(reason) => return Outcome::Close(reason),
    };
    match route(ctx, request, version, client_id).await {
        Ok(Some(response)) => encode(key, version, correlation_id, &response),
        Ok(None) => Outcome::NoReply,
        Err(reason) => Outcome::Close(reason),
    }
}

/// Calls the handler of `request`; `Ok(None)` when no answer is due, `Err` when the
/// connection must close instead of answering.
async fn route(
    ctx: &Context,
    request: RequestKind,
    version: i16,
    client_id: &str,
) -> Result<Option<ResponseKind>, String> {
    use RequestKind as Rq;
    use ResponseKind as Rs;
    Ok(Some(match request {
        Rq::ApiVersions(_) => Rs::ApiVersions(api::api_versions::handle()),
        Rq::Metadata(r) => Rs::Metadata(api::metadata::handle(ctx, r, version).await),
        Rq::Produce(r) => match api::produce::handle(ctx, r).await? {
            Some(response) => Rs::Produce(response),
            None => return Ok(None),
        },
        Rq::Fetch(r) => Rs::Fetch(api::fetch::handle(ctx, r).await),
        Rq::ListOffsets(r) => Rs::ListOffsets(api::list_offsets::handle(ctx, r).await),
        Rq::CreateTopics(r) => Rs::CreateTopics(api::create_topics::handle(ctx, r).await),
        Rq::DeleteTopics(r) => Rs::DeleteTopics(api::delete_topics::handle(ctx, r, version).await),
        Rq::InitProducerId(r) => Rs::InitProducerId(api::init_producer_id::handle(ctx, r).await),
        Rq::FindCoordinator(r) => {
            Rs::FindCoordinator(api::find_coordinator::handle(ctx, r, version))
        }
        Rq::OffsetCommit(r) => Rs::OffsetCommit(api::offset_commit::handle(ctx, r).await),
        Rq::OffsetFetch(r) => Rs::OffsetFetch(api::offset_fetch::handle(ctx, r, version).await),
        Rq::ListGroups(r) => Rs::ListGroups(api::list_groups::handle(ctx, r)),
        Rq::JoinGroup(r) => {
            Rs::JoinGroup(api::join_group::handle(ctx, r, version, client_id).await)
        }
        Rq::SyncGroup(r) => Rs::SyncGroup(api::sync_group::handle(ctx, r)),
        Rq::Heartbeat(r) => Rs::Heartbeat(api::heartbeat::handle(ctx, r)),
        Rq::LeaveGroup(r) => Rs::LeaveGroup(api::leave_group::handle(ctx, r, version)),
        Rq::DescribeGroups(r) => {
            Rs::DescribeGroups(api::describe_groups::handle(ctx, r, version).await)
        }
        Rq::DeleteGroups(r) => Rs::DeleteGroups(api::delete_groups::handle(ctx, r).await),
        Rq::SaslHandshake(r) => Rs::SaslHandshake(api::sasl_handshake::handle(ctx, r, version)),
        Rq::SaslAuthenticate(r) => Rs::SaslAuthenticate(api::sasl_authenticate::handle(ctx, r)),
        Rq::DescribeConfigs(r) => {
            Rs::DescribeConfigs(api::describe_configs::handle(ctx, r, version))
        }
        Rq::IncrementalAlterConfigs(r) => {
            Rs::IncrementalAlterConfigs(api::alter_configs::handle(ctx, r).await)
        }
        Rq::CreatePartitions(r) => {
            Rs::CreatePartitions(api::create_partitions::handle(ctx, r).await)
        }
        // `decode_request` admits only the APIs above (`versions::serves`).
        other => unreachable!("no handler for {other:?}"),
    }))
}

/// The frame body of a response: header (version 0 for ApiVersions whatever the
/// request version, as clients expect) and message.
fn encode(key: ApiKey, version: i16, correlation_id: i32, response: &ResponseKind) -> Outcome {
    let header_version = if key == ApiKey::ApiVersions {
        0
    } else {
        key.response_header_version(version)
    };
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let mut out = BytesMut::new();
    let encoded = header
        .encode(&mut out, header_version)
        .and_then(|()| response.encode(&mut out, version));
    match encoded {
        Ok(()) => Outcome::Reply(out),
        Err(err) => {
            tracing::error!(error = %err, ?key, version, "cannot encode a kafka response");
            Outcome::Close(format!(
                "cannot encode the {key:?} v{version} response: {err}"
            ))
        }
    }
}
