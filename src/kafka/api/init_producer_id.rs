//! InitProducerId: a new idempotent producer id and epoch from the broker, the same
//! ids the gRPC `InitProducer` hands out. A transactional id is refused (transactions
//! are not supported); a producer asking to bump its epoch gets a fresh id instead,
//! which resets its sequences just as well.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::kafka::context::Context;
use crate::kafka::errors::code_of;

/// Answers an InitProducerId request.
pub async fn handle(ctx: &Context, request: InitProducerIdRequest) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    if request.transactional_id.is_some() {
        return response.with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code());
    }
    match ctx.broker.init_producer(None).await {
        Ok(identity) => response
            .with_producer_id(ProducerId(identity.producer_id))
            .with_producer_epoch(identity.epoch),
        Err(err) => response.with_error_code(code_of(&err)),
    }
}
