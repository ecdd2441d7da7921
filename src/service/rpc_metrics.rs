//! Per-RPC metrics: a tower middleware around each of our gRPC services that records
//! every request's duration (`eventlog_rpc_duration_seconds`) and counts failures by
//! status code (`eventlog_rpc_errors_total`).
//!
//! The status is read from the response headers: tonic puts `grpc-status` there for
//! every error returned before a body (all our unary errors, a refused stream, a
//! malformed request, an unknown method). A `Subscribe` stream that ends with an error
//! later reports it in trailers, which [`stream_ended`] counts from the stream's task.
//!
//! Label values come only from fixed sets: the service name is the service's own, and
//! a method the service does not have (answered `UNIMPLEMENTED`) is labelled `unknown`,
//! so clients cannot grow the metric's label set with made-up paths.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use metrics::{counter, histogram};
use tonic::Code;
use tonic::codegen::{Service, http};
use tonic::server::NamedService;

use crate::telemetry::names;

/// Wraps a gRPC service (e.g. `EventLogServer`) to measure its requests.
#[derive(Debug, Clone)]
pub struct RpcMetrics<S> {
    inner: S,
}

impl<S> RpcMetrics<S> {
    /// Measures the requests of `inner`.
    pub fn new(inner: S) -> Self {
        RpcMetrics { inner }
    }
}

impl<S: NamedService> NamedService for RpcMetrics<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B, R> Service<http::Request<B>> for RpcMetrics<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>> + NamedService,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = method_of(request.uri().path(), S::NAME);
        let started = Instant::now();
        let reply = self.inner.call(request);
        Box::pin(async move {
            let result = reply.await;
            if let Ok(response) = &result {
                let code = response
                    .headers()
                    .get("grpc-status")
                    .map_or(Code::Ok, |value| Code::from_bytes(value.as_bytes()));
                let labels = [
                    ("service", S::NAME.to_owned()),
                    ("method", method.to_owned()),
                ];
                histogram!(names::RPC_SECONDS, &labels).record(started.elapsed().as_secs_f64());
                if code != Code::Ok {
                    count_error(S::NAME, method, code);
                }
            }
            result
        })
    }
}

/// Counts a stream of `service`/`method` that ended with `code` after it opened.
pub fn stream_ended(service: &'static str, method: &'static str, code: Code) {
    if code != Code::Ok {
        count_error(service, method, code);
    }
}

fn count_error(service: &str, method: &str, code: Code) {
    let labels = [
        ("service", service.to_owned()),
        ("method", method.to_owned()),
        ("code", code_name(code).to_owned()),
    ];
    counter!(names::RPC_ERRORS, &labels).increment(1);
}

/// The method of a request path `/{service}/{method}` when `service` has that method;
/// `unknown` for any other path. Labels come only from the `.proto` files' list, so
/// clients (even ones refused before routing, without a token) cannot add series.
pub fn method_of(path: &str, service: &str) -> &'static str {
    let called = path
        .strip_prefix('/')
        .and_then(|p| p.strip_prefix(service))
        .and_then(|p| p.strip_prefix('/'));
    crate::proto::methods::RPC_METHODS
        .iter()
        .filter(|(name, _)| *name == service)
        .flat_map(|(_, methods)| methods.iter())
        .find(|m| Some(**m) == called)
        .copied()
        .unwrap_or("unknown")
}

/// The canonical name of a status code, as in the gRPC specification (`NOT_FOUND`).
pub fn code_name(code: Code) -> &'static str {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_is_the_last_segment_under_the_service() {
        let service = "eventlog.v1.EventLog";
        assert_eq!(
            method_of("/eventlog.v1.EventLog/Produce", service),
            "Produce"
        );
        assert_eq!(
            method_of("/eventlog.v1.Admin/CreateTopic", service),
            "unknown"
        );
        assert_eq!(method_of("/eventlog.v1.EventLog/", service), "unknown");
        assert_eq!(method_of("/eventlog.v1.EventLog/a/b", service), "unknown");
        assert_eq!(
            method_of("/eventlog.v1.EventLogX/Produce", service),
            "unknown"
        );
        assert_eq!(method_of("", service), "unknown");
        // Made-up methods of a real service all share one label.
        assert_eq!(
            method_of("/eventlog.v1.EventLog/Random123", service),
            "unknown"
        );
        assert_eq!(
            method_of("/eventlog.v1.Admin/ResetGroupOffsets", "eventlog.v1.Admin"),
            "ResetGroupOffsets"
        );
    }

    #[test]
    fn code_names_match_the_grpc_specification() {
        assert_eq!(code_name(Code::NotFound), "NOT_FOUND");
        assert_eq!(code_name(Code::OutOfRange), "OUT_OF_RANGE");
        assert_eq!(code_name(Code::Unauthenticated), "UNAUTHENTICATED");
        // Every code round-trips through its number: the table has no gaps or swaps.
        let names: std::collections::BTreeSet<&str> =
            (0..=16).map(|n| code_name(Code::from_i32(n))).collect();
        assert_eq!(names.len(), 17);
    }
}
