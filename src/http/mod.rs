//! The web console and HTTP/JSON API (`serve --http-listen`): a thin adapter over the
//! broker for browsers and for tools without a gRPC client. Each resource lives in its
//! own file; a handler converts the request, calls the broker as the matching gRPC
//! handler does and converts the answer back, so the HTTP API can never disagree with
//! gRPC about what the broker does.
//!
//! | Route | Does | Same as RPC |
//! |---|---|---|
//! | `GET /` (and `/console.js`, `/console.css`) | the console (`console.rs`) | - |
//! | `GET /api/v1/openapi.json` | the API's description (`openapi.rs`) | - |
//! | `GET, POST, DELETE /api/v1/session` | console login by cookie (`session.rs`) | - |
//! | `GET /api/v1/cluster` | the nodes (`cluster.rs`) | `DescribeCluster` |
//! | `GET, POST /api/v1/topics` | list, create (`topics.rs`) | `ListTopics`, `CreateTopic` |
//! | `GET, PATCH, DELETE /api/v1/topics/{t}` | describe, alter (`alter.rs`), delete | `DescribeTopic`, `UpdateTopicConfig`, `DeleteTopic` |
//! | `POST /api/v1/topics/{t}/records` | produce (`records.rs`) | `Produce` |
//! | `GET /api/v1/topics/{t}/partitions/{p}/records` | fetch by offset or time | `Fetch` |
//! | `GET /api/v1/topics/{t}/stream` | Server-Sent Events (`stream.rs`, `resume.rs`) | `Subscribe` |
//! | `GET /api/v1/groups`, `GET, DELETE /api/v1/groups/{g}` | list, describe, delete (`groups.rs`; in a cluster, handed to the coordinator: `groups_remote.rs`) | `ListGroups`, `DescribeGroup`, `DeleteGroup` |
//! | `GET /api/v1/groups/{g}/topics/{t}` | position and lag in a topic | `GetCommittedOffsets` |
//! | `POST /api/v1/groups/{g}/topics/{t}/offsets`, `.../reset` | commit, reset | `CommitOffsets`, `ResetGroupOffsets` |
//!
//! Security reuses the gRPC port's: `auth.rs` maps each route to its RPC and applies the
//! same token check and roles; `tls.rs` builds the listener's TLS from the same files;
//! `origin.rs` and the JSON-only bodies (`body.rs`) refuse cross-site state changes.
//! Errors carry gRPC codes with the matching HTTP status (`error.rs`).

mod alter;
mod auth;
mod body;
mod cluster;
mod console;
mod encoding;
mod error;
mod groups;
mod groups_remote;
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
        .route("/api/v1/cluster", get(cluster::describe))
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
