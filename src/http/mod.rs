//! The HTTP/JSON API (`serve --http-listen`): a thin adapter over the broker for tools
//! and people without a gRPC client. Each resource lives in its own file; a handler
//! converts the request, calls the broker once and converts the answer back, so the
//! HTTP API can never disagree with gRPC about what the broker does.

mod alter;
mod auth;
mod body;
mod console;
mod encoding;
mod error;
mod groups;
mod listener;
mod openapi;
mod origin;
mod query;
mod records;
mod resume;
mod session;
mod stream;
mod tls;
mod topics;

use std::sync::Arc;

use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};

use crate::broker::Broker;
use crate::service::tokens::TokenTable;

pub use error::ApiError;
pub use listener::{HttpListener, RunningHttp};

/// The console at `/` and the API under `/api/v1/`. With `tokens`, every API route checks
/// the caller's token as gRPC does; `secure` says the listener speaks TLS.
pub fn router(broker: Arc<Broker>, tokens: Option<Arc<TokenTable>>, secure: bool) -> Router {
    let sessions = session::Sessions {
        tokens: tokens.clone(),
        secure,
    };
    let session = Router::new()
        .route(
            "/api/v1/session",
            get(session::state)
                .post(session::login)
                .delete(session::logout),
        )
        .with_state(sessions);
    api_routes()
        .route_layer(from_fn_with_state(tokens, auth::authorize))
        .with_state(broker)
        .merge(session)
        .merge(console::router())
        .layer(from_fn(origin::same_origin))
}

/// The API's resources.
fn api_routes() -> Router<Arc<Broker>> {
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
}
