//! JoinGroup: a consumer joins (or rejoins) a group on the broker's coordinator, which
//! computes every assignment itself: no member is made the leader, so each one sends
//! an empty SyncGroup and is handed its share there.
//!
//! Version 4 and later follow KIP-394: a first join without a member id is answered
//! MEMBER_ID_REQUIRED with one to come back with. The member's preferred assignor is
//! the protocol it is answered with; it only decides whether the client gives up all
//! its partitions before rejoining (eager) or only those it lost (cooperative). Static
//! membership (`group.instance.id`) is refused with INVALID_REQUEST.

use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::text;
use crate::broker::membership::classic::{ClassicJoin, ClassicJoined};
use crate::kafka::context::Context;
use crate::kafka::errors::classic_code;
use crate::kafka::group_protocol::{CONSUMER, not_coordinator, subscription};

/// Answers a JoinGroup request from client `client_id`.
pub async fn handle(
    ctx: &Context,
    request: JoinGroupRequest,
    version: i16,
    client_id: &str,
) -> JoinGroupResponse {
    let join = match to_join(ctx, &request, version, client_id) {
        Ok(join) => join,
        Err(code) => return refused(request.member_id, code),
    };
    let protocol = join.protocol.clone();
    match ctx.broker.classic_join(join).await {
        Ok(ClassicJoined::MemberIdRequired { member_id }) => refused(
            StrBytes::from_string(member_id),
            ResponseError::MemberIdRequired.code(),
        ),
        Ok(ClassicJoined::Joined {
            member_id,
            generation,
        }) => JoinGroupResponse::default()
            .with_generation_id(i32::try_from(generation).unwrap_or(i32::MAX))
            .with_protocol_type(Some(text(CONSUMER)))
            .with_protocol_name(Some(text(&protocol)))
            .with_member_id(StrBytes::from_string(member_id)),
        Err(err) => refused(request.member_id, classic_code(&err)),
    }
}

/// The broker's join, or the error code refusing the request as it stands.
fn to_join(
    ctx: &Context,
    request: &JoinGroupRequest,
    version: i16,
    client_id: &str,
) -> Result<ClassicJoin, i16> {
    if let Some(code) = not_coordinator(ctx) {
        return Err(code);
    }
    if request.group_instance_id.is_some() {
        return Err(ResponseError::InvalidRequest.code());
    }
    let inconsistent = ResponseError::InconsistentGroupProtocol.code();
    if request.protocol_type.as_str() != CONSUMER {
        return Err(inconsistent);
    }
    // The member's first protocol is its preferred one.
    let protocol = request.protocols.first().ok_or(inconsistent)?;
    let subscribed =
        subscription(protocol.name.as_str(), &protocol.metadata).ok_or(inconsistent)?;
    let session_ms = u64::try_from(request.session_timeout_ms)
        .map_err(|_| ResponseError::InvalidSessionTimeout.code())?;
    // Version 0 has no rebalance timeout: Kafka uses the session timeout.
    let rebalance_ms = match version {
        0 => session_ms,
        _ => u64::try_from(request.rebalance_timeout_ms).unwrap_or(session_ms),
    };
    Ok(ClassicJoin {
        group: request.group_id.as_str().to_string(),
        member_id: request.member_id.as_str().to_string(),
        require_member_id: version >= 4,
        topics: subscribed.topics,
        owned: subscribed.owned,
        session_timeout: Duration::from_millis(session_ms),
        rebalance_timeout: Duration::from_millis(rebalance_ms),
        client_id: client_id.to_string(),
        client: format!("kafka client {client_id}"),
        protocol: protocol.name.as_str().to_string(),
        metadata: protocol.metadata.clone(),
    })
}

/// A refusal, with the member id the member is to use (KIP-394) or it sent.
fn refused(member_id: StrBytes, code: i16) -> JoinGroupResponse {
    JoinGroupResponse::default()
        .with_error_code(code)
        .with_generation_id(-1)
        .with_member_id(member_id)
}
