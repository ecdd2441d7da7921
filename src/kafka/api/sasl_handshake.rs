//! SaslHandshake (versions 0 and 1): the client names its mechanism; PLAIN is the one
//! served, and only while the connection has not authenticated yet. A server without
//! tokens offers no mechanism. See [`sasl`](crate::kafka::sasl).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{SaslHandshakeRequest, SaslHandshakeResponse};

use super::text;
use crate::kafka::context::Context;
use crate::kafka::sasl::{AuthState, PLAIN};

/// Answers a SaslHandshake request.
pub fn handle(ctx: &Context, request: SaslHandshakeRequest, version: i16) -> SaslHandshakeResponse {
    if !ctx.session.required() {
        return SaslHandshakeResponse::default()
            .with_error_code(ResponseError::UnsupportedSaslMechanism.code());
    }
    let offered = vec![text(PLAIN)];
    let answer = SaslHandshakeResponse::default().with_mechanisms(offered);
    if !matches!(ctx.session.state(), AuthState::Start) {
        return answer.with_error_code(ResponseError::IllegalSaslState.code());
    }
    if request.mechanism.as_str() != PLAIN {
        return answer.with_error_code(ResponseError::UnsupportedSaslMechanism.code());
    }
    ctx.session.set(match version {
        0 => AuthState::AwaitingBareToken,
        _ => AuthState::Handshaken,
    });
    answer
}
