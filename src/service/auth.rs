//! Token authentication in front of each gRPC service: the `authorization: Bearer`
//! header is checked against the [`TokenTable`] and the RPC's [`access`](super::access)
//! rule before the request reaches the service. The broker knows nothing of it.
//!
//! Missing, malformed or unknown tokens get UNAUTHENTICATED; a known token without the
//! role the RPC needs gets PERMISSION_DENIED. Messages name the RPC and the role,
//! never the token, and nothing here logs a token. A request let through carries the
//! [`Scope`] of its token (everything without authentication) in its extensions, for
//! the handlers to check the topics and groups it names.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::{Either, Ready, ready};
use tonic::Status;
use tonic::body::Body;
use tonic::codegen::{Service, http};
use tonic::server::NamedService;

use super::access::{self, Access, Roles};
use super::scope::Scope;
use super::tokens::TokenTable;

/// A service behind the token check; with no token table every request passes.
#[derive(Debug, Clone)]
pub struct Authorized<S> {
    inner: S,
    tokens: Option<Arc<TokenTable>>,
}

impl<S> Authorized<S> {
    /// Wraps `inner`; `tokens` is `None` when authentication is off.
    pub fn new(inner: S, tokens: Option<Arc<TokenTable>>) -> Self {
        Authorized { inner, tokens }
    }
}

impl<S: NamedService> NamedService for Authorized<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<http::Request<Body>> for Authorized<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Either<Ready<Result<http::Response<Body>, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        let scope = match &self.tokens {
            None => Scope::everything(),
            Some(tokens) => match check(tokens, request.uri().path(), request.headers()) {
                Ok(scope) => scope,
                Err(status) => return Either::Left(ready(Ok(status.into_http()))),
            },
        };
        request.extensions_mut().insert(scope);
        Either::Right(self.inner.call(request))
    }
}

/// Whether the request to `path` with `headers` may proceed, and if so what it may name.
pub fn check(tokens: &TokenTable, path: &str, headers: &http::HeaderMap) -> Result<Scope, Status> {
    let rpc = path.trim_start_matches('/');
    let needed = access::required(path);
    if needed == Access::Open {
        return Ok(Scope::everything());
    }
    let token = bearer_token(rpc, headers)?;
    let grants = tokens.grants_of(token);
    let roles = Roles::of_grants(grants.iter().copied());
    if roles.is_empty() {
        tracing::debug!(rpc, "rejected a request with an unknown token");
        return Err(Status::unauthenticated(format!(
            "{rpc}: the bearer token is not valid"
        )));
    }
    match needed {
        Access::Role(role) if !roles.allow(role) => {
            tracing::debug!(rpc, %role, "rejected a request lacking the role");
            Err(Status::permission_denied(format!(
                "{rpc} needs the {role} role; the token has {roles}"
            )))
        }
        _ => Ok(access::scope_for(needed, grants)),
    }
}

/// The token of an `authorization: Bearer <token>` header.
fn bearer_token<'h>(rpc: &str, headers: &'h http::HeaderMap) -> Result<&'h [u8], Status> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Err(Status::unauthenticated(format!(
            "{rpc} needs a token: send the header \"authorization: Bearer <token>\""
        )));
    };
    let value = value.as_bytes();
    // The scheme name is case-insensitive (RFC 7235).
    match value.split_at_checked(7) {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case(b"bearer ") && !token.is_empty() => {
            Ok(token)
        }
        _ => Err(Status::unauthenticated(format!(
            "{rpc}: the authorization header is not \"Bearer <token>\""
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(authorization: Option<&str>) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        if let Some(value) = authorization {
            headers.insert(http::header::AUTHORIZATION, value.parse().unwrap());
        }
        headers
    }

    fn table() -> TokenTable {
        TokenTable::parse("admin-token-0123456789\nconsumer-token-0123456789 consumer\n").unwrap()
    }

    #[test]
    fn missing_malformed_and_unknown_tokens_are_unauthenticated() {
        let produce = "/eventlog.v1.EventLog/Produce";
        for header in [
            None,
            Some("Basic abc"),
            Some("Bearer "),
            Some("Bearer wrong-token"),
        ] {
            let status = check(&table(), produce, &headers(header)).unwrap_err();
            assert_eq!(status.code(), tonic::Code::Unauthenticated, "{header:?}");
            assert!(status.message().contains("eventlog.v1.EventLog/Produce"));
            assert!(!status.message().contains("wrong-token"));
        }
    }

    #[test]
    fn roles_decide_and_health_is_open() {
        let consumer = headers(Some("bearer consumer-token-0123456789"));
        let status = check(&table(), "/eventlog.v1.EventLog/Produce", &consumer).unwrap_err();
        assert_eq!(status.code(), tonic::Code::PermissionDenied);
        assert!(
            status.message().contains("producer role"),
            "{}",
            status.message()
        );
        assert!(check(&table(), "/eventlog.v1.EventLog/Fetch", &consumer).is_ok());
        assert!(check(&table(), "/grpc.health.v1.Health/Check", &headers(None)).is_ok());
        let admin = headers(Some("Bearer admin-token-0123456789"));
        assert!(check(&table(), "/eventlog.v1.Admin/DeleteTopic", &admin).is_ok());
    }

    #[test]
    fn a_call_may_name_what_the_lines_granting_its_role_cover() {
        let table = TokenTable::parse(
            "team-token-0123456789 consumer topic=orders. group=orders-\n\
             team-token-0123456789 producer topic=audit.\n",
        )
        .unwrap();
        let team = headers(Some("Bearer team-token-0123456789"));
        let fetch = check(&table, "/eventlog.v1.EventLog/Fetch", &team).unwrap();
        assert!(fetch.allows_topic("orders.eu") && !fetch.allows_topic("audit.log"));
        let produce = check(&table, "/eventlog.v1.EventLog/Produce", &team).unwrap();
        assert!(produce.allows_topic("audit.log") && !produce.allows_topic("orders.eu"));
        // Metadata any token may read covers every line's names.
        let list = check(&table, "/eventlog.v1.Admin/ListTopics", &team).unwrap();
        assert!(list.allows_topic("audit.log") && list.allows_topic("orders.eu"));
        assert!(!list.allows_topic("billing"));
    }
}
