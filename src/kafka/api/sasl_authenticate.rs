//! SaslAuthenticate (versions 0 to 2): the PLAIN message after a version 1 handshake.
//! Out of turn it is ILLEGAL_SASL_STATE; a wrong token is SASL_AUTHENTICATION_FAILED,
//! after which the connection closes (see [`sasl`](crate::kafka::sasl)).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{SaslAuthenticateRequest, SaslAuthenticateResponse};

use super::text;
use crate::kafka::context::Context;
use crate::kafka::sasl::AuthState;

/// Answers a SaslAuthenticate request.
pub fn handle(ctx: &Context, request: SaslAuthenticateRequest) -> SaslAuthenticateResponse {
    let answer = SaslAuthenticateResponse::default();
    if !matches!(ctx.session.state(), AuthState::Handshaken) {
        return answer
            .with_error_code(ResponseError::IllegalSaslState.code())
            .with_error_message(Some(text(
                "SaslAuthenticate must follow a SaslHandshake choosing PLAIN",
            )));
    }
    match ctx.session.authenticate(&request.auth_bytes) {
        // Tokens do not expire: no re-authentication is asked for (lifetime 0).
        Ok(()) => answer,
        Err(why) => answer
            .with_error_code(ResponseError::SaslAuthenticationFailed.code())
            .with_error_message(Some(text(&why))),
    }
}
