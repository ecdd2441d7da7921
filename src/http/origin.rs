//! Refuses state-changing requests that a browser sends on behalf of another site: when
//! a POST, PUT, PATCH or DELETE carries an `Origin` whose host is not the `Host` asked
//! for, it gets PERMISSION_DENIED. Tools like curl send no `Origin` and pass.

use axum::extract::Request;
use axum::http::Method;
use axum::http::header::{HOST, ORIGIN};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tonic::{Code, Status};

use super::ApiError;

/// The middleware.
pub async fn same_origin(request: Request, next: Next) -> Response {
    let changes_state = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if changes_state && let Some(origin) = request.headers().get(ORIGIN) {
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, host)| host.trim_end_matches('/'));
        let host = request.headers().get(HOST).and_then(|h| h.to_str().ok());
        if origin_host.is_none() || origin_host != host {
            let message = format!("cross-site request from origin {origin:?} refused");
            return ApiError::from(Status::new(Code::PermissionDenied, message)).into_response();
        }
    }
    next.run(request).await
}
