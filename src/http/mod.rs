//! The HTTP/JSON API (`serve --http-listen`): a thin adapter over the broker for tools
//! and people without a gRPC client. Each resource lives in its own file; a handler
//! converts the request, calls the broker once and converts the answer back, so the
//! HTTP API can never disagree with gRPC about what the broker does.

mod alter;
mod body;
mod encoding;
mod error;
mod groups;
mod listener;
mod openapi;
mod origin;
mod query;
mod records;
mod resume;
mod stream;
mod topics;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};

use crate::broker::Broker;
use crate::service::scope::Scope;

pub use error::ApiError;
pub use listener::{HttpListener, RunningHttp};

/// The routes of the API, all under `/api/v1/`.
pub fn router(broker: Arc<Broker>) -> Router {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/topics", get(topics::list).post(topics::create))
        .route(
            "/api/v1/topics/{topic}",
            get(topics::describe)
                .patch(topics::alter)
                .delete(topics::delete),
        )
        .route("/api/v1/topics/{topic}/records", post(records::produce))
        .route(
            "/api/v1/topics/{topic}/partitions/{partition}/records",
            get(records::fetch),
        )
        .route("/api/v1/topics/{topic}/stream", get(stream::stream))
        .route("/api/v1/groups", get(groups::list))
        .route(
            "/api/v1/groups/{group}",
            get(groups::describe).delete(groups::delete),
        )
        .route(
            "/api/v1/groups/{group}/topics/{topic}",
            get(groups::positions),
        )
        .route(
            "/api/v1/groups/{group}/topics/{topic}/offsets",
            post(groups::commit),
        )
        .route(
            "/api/v1/groups/{group}/topics/{topic}/reset",
            post(groups::reset),
        )
        .layer(axum::middleware::from_fn(open_scope))
        .layer(axum::middleware::from_fn(origin::same_origin))
        .with_state(broker)
}

/// Without authentication every request may name every topic and group.
async fn open_scope(mut request: Request, next: Next) -> Response {
    request.extensions_mut().insert(Scope::everything());
    next.run(request).await
}
