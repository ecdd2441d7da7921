//! The OpenAPI document at `/api/v1/openapi.json`, generated from the handlers'
//! annotations and the request and answer types, so it cannot drift from the code.

use axum::http::StatusCode;
use utoipa::OpenApi;

use super::body::Reply;

/// The API's description; every handler is listed here.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "eventlog HTTP API",
        description = "Topics, records, live streams and consumer groups of an eventlog server. Errors are {\"code\", \"message\"} with gRPC code names."
    ),
    paths(
        super::cluster::describe,
        super::topics::list,
        super::topics::create,
        super::topics::describe,
        super::topics::alter,
        super::topics::delete,
        super::records::produce,
        super::records::fetch,
        super::stream::stream,
        super::groups::list,
        super::groups::describe,
        super::groups::positions,
        super::groups::commit,
        super::groups::reset,
        super::groups::delete,
    )
)]
pub struct ApiDoc;

/// `GET /api/v1/openapi.json`
pub async fn document() -> Reply<utoipa::openapi::OpenApi> {
    Reply(StatusCode::OK, ApiDoc::openapi())
}
