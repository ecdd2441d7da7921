//! JSON in and out. A request body must say `Content-Type: application/json`: browsers
//! cannot send that type cross-site without a CORS preflight (which this API never
//! grants), so the check also keeps other sites from changing state here.

use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::ApiError;

/// Parses a JSON request body, refusing any other content type.
pub fn json_body<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, ApiError> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::unsupported_media(format!(
            "the body must be application/json, not {content_type:?}"
        )));
    }
    serde_json::from_slice(body).map_err(|err| ApiError::invalid(format!("bad JSON body: {err}")))
}

/// A JSON answer with a status.
pub struct Reply<T>(pub StatusCode, pub T);

impl<T: Serialize> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        match serde_json::to_string(&self.1) {
            Ok(text) => (self.0, [(CONTENT_TYPE, "application/json")], text).into_response(),
            Err(err) => ApiError::internal(format!("encoding the answer: {err}")).into_response(),
        }
    }
}
