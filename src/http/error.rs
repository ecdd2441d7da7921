//! Errors of the HTTP API as JSON `{"code": "NOT_FOUND", "message": ...}`. The code is
//! the gRPC one, taken from the one broker-error mapping in `service::status`, so a
//! client sees the same code on both APIs; the HTTP status follows from the code.

use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tonic::{Code, Status};
use utoipa::ToSchema;

use crate::broker::BrokerError;

/// An error answer: a gRPC code and a message for people.
#[derive(Debug)]
pub struct ApiError {
    code: Code,
    message: String,
    /// Overrides the status the code maps to (a wrong content type is 415).
    status: Option<StatusCode>,
}

impl ApiError {
    /// A request the API itself refuses (bad JSON, bad parameter).
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError {
            code: Code::InvalidArgument,
            message: message.into(),
            status: None,
        }
    }

    /// A body of a type other than JSON.
    pub fn unsupported_media(message: impl Into<String>) -> ApiError {
        ApiError {
            code: Code::InvalidArgument,
            message: message.into(),
            status: Some(StatusCode::UNSUPPORTED_MEDIA_TYPE),
        }
    }

    /// A fault of the server itself.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError {
            code: Code::Internal,
            message: message.into(),
            status: None,
        }
    }
}

impl From<Status> for ApiError {
    fn from(status: Status) -> ApiError {
        ApiError {
            code: status.code(),
            message: status.message().to_string(),
            status: None,
        }
    }
}

impl From<BrokerError> for ApiError {
    fn from(err: BrokerError) -> ApiError {
        Status::from(err).into()
    }
}

/// The JSON shape of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The gRPC code's name, e.g. `NOT_FOUND`.
    code: &'static str,
    /// What went wrong, for people.
    message: String,
}

impl ApiError {
    /// The answer's HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status.unwrap_or_else(|| http_status(self.code))
    }

    /// The answer's JSON body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: code_name(self.code),
            message: self.message.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_string(&self.body()).unwrap_or_default();
        (self.status(), [(CONTENT_TYPE, "application/json")], body).into_response()
    }
}

/// The code's name as in the gRPC spec, which clients match on.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The HTTP status for a gRPC code, as the usual gRPC-HTTP gateways map them.
fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::FailedPrecondition => StatusCode::BAD_REQUEST,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}
