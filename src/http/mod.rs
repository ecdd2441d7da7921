//! The HTTP/JSON API (`serve --http-listen`): a thin adapter over the broker for tools
//! and people without a gRPC client. Each resource lives in its own file; a handler
//! converts the request, calls the broker once and converts the answer back, so the
//! HTTP API can never disagree with gRPC about what the broker does.

mod body;
mod encoding;
mod error;
mod groups;
mod listener;
mod origin;
mod records;
mod topics;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::broker::Broker;

pub use error::ApiError;
pub use listener::{HttpListener, RunningHttp};

/// The routes of the API, all under `/api/v1/`.
pub fn router(broker: Arc<Broker>) -> Router {
    Router::new()
        .route("/api/v1/topics", get(topics::list).post(topics::create))
        .route(
            "/api/v1/topics/{topic}",
            get(topics::describe).delete(topics::delete),
        )
        .route(
            "/api/v1/topics/{topic}/records",
            axum::routing::post(records::produce),
        )
        .route(
            "/api/v1/topics/{topic}/partitions/{partition}/records",
            get(records::fetch),
        )
        .route("/api/v1/groups", get(groups::list))
        .layer(axum::middleware::from_fn(origin::same_origin))
        .with_state(broker)
}
