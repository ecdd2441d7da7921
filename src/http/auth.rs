//! Token checks for the HTTP API, the very ones gRPC makes: each route is mapped to the
//! RPC that does the same thing, and `service::auth::check` decides with the token
//! table and `service::access` rules, so a token may do over HTTP exactly what it may
//! do over gRPC. The token comes from `Authorization: Bearer` (tools) or from the
//! console's session cookie (see [`session`](super::session)). The request goes on
//! with the token's [`Scope`] for the handlers to check the names it uses.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;
use super::groups_remote::Caller;
use super::session;
use crate::service::auth;
use crate::service::scope::Scope;
use crate::service::tokens::TokenTable;

/// The RPC with the same effect as `method` on the route `route`; `None` for routes
/// that need no token (the OpenAPI document, the session itself).
pub fn rpc_of(method: &Method, route: &str) -> Option<&'static str> {
    let route = route.trim_start_matches("/api/v1/");
    let rpc = match (method.as_str(), route) {
        ("GET", "openapi.json") | (_, "session") => return None,
        ("GET", "cluster") => "/eventlog.v1.Admin/DescribeCluster",
        ("GET", "topics") => "/eventlog.v1.Admin/ListTopics",
        ("POST", "topics") => "/eventlog.v1.Admin/CreateTopic",
        ("GET", "topics/{topic}") => "/eventlog.v1.Admin/DescribeTopic",
        ("PATCH", "topics/{topic}") => "/eventlog.v1.Admin/UpdateTopicConfig",
        ("DELETE", "topics/{topic}") => "/eventlog.v1.Admin/DeleteTopic",
        ("POST", "topics/{topic}/records") => "/eventlog.v1.EventLog/Produce",
        ("GET", "topics/{topic}/partitions/{partition}/records") => "/eventlog.v1.EventLog/Fetch",
        ("GET", "topics/{topic}/stream") => "/eventlog.v1.EventLog/Subscribe",
        ("GET", "groups") => "/eventlog.v1.Admin/ListGroups",
        ("GET", "groups/{group}") => "/eventlog.v1.Admin/DescribeGroup",
        ("DELETE", "groups/{group}") => "/eventlog.v1.Admin/DeleteGroup",
        ("GET", "groups/{group}/topics/{topic}") => "/eventlog.v1.EventLog/GetCommittedOffsets",
        ("POST", "groups/{group}/topics/{topic}/offsets") => "/eventlog.v1.EventLog/CommitOffsets",
        ("POST", "groups/{group}/topics/{topic}/reset") => "/eventlog.v1.Admin/ResetGroupOffsets",
        // A route missing here needs admin, as an RPC missing from the gRPC table does.
        _ => "/eventlog.v1.Admin/Unmapped",
    };
    Some(rpc)
}

/// The middleware: attaches the caller's scope, or answers UNAUTHENTICATED or
/// PERMISSION_DENIED as gRPC would.
pub async fn authorize(
    State(tokens): State<Option<Arc<TokenTable>>>,
    mut request: Request,
    next: Next,
) -> Response {
    let scope = match &tokens {
        None => Scope::everything(),
        Some(tokens) => match check(tokens, &request) {
            Ok(scope) => scope,
            Err(err) => return err.into_response(),
        },
    };
    request.extensions_mut().insert(scope);
    // A group call that this node hands to the coordinator goes with the caller's token.
    let caller = Caller::new(token_of(request.headers()).as_deref());
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// The caller's token: from the `authorization` header, else the console's session
/// cookie.
fn token_of(headers: &axum::http::HeaderMap) -> Option<String> {
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    bearer.or_else(|| session::token_of(headers))
}

fn check(tokens: &TokenTable, request: &Request) -> Result<Scope, ApiError> {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("", MatchedPath::as_str);
    let Some(rpc) = rpc_of(request.method(), route) else {
        return Ok(Scope::everything());
    };
    let mut headers = request.headers().clone();
    if !headers.contains_key(AUTHORIZATION)
        && let Some(token) = session::token_of(&headers)
    {
        let value = HeaderValue::from_bytes(format!("Bearer {token}").as_bytes())
            .map_err(|_| ApiError::invalid("the session cookie is malformed"))?;
        headers.insert(AUTHORIZATION, value);
    }
    Ok(auth::check(tokens, rpc, &headers)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::access::{Access, Role, required};

    #[test]
    fn routes_need_the_roles_their_rpcs_need() {
        let needs = |method: Method, route: &str| rpc_of(&method, route).map(required);
        assert_eq!(
            needs(Method::POST, "/api/v1/topics/{topic}/records"),
            Some(Access::Role(Role::Producer))
        );
        assert_eq!(
            needs(Method::GET, "/api/v1/topics/{topic}/stream"),
            Some(Access::Role(Role::Consumer))
        );
        assert_eq!(
            needs(Method::GET, "/api/v1/topics"),
            Some(Access::Authenticated)
        );
        for (method, route) in [
            (Method::PATCH, "/api/v1/topics/{topic}"),
            (Method::DELETE, "/api/v1/groups/{group}"),
            (Method::POST, "/api/v1/groups/{group}/topics/{topic}/reset"),
            (Method::PUT, "/api/v1/topics"),
        ] {
            assert_eq!(
                needs(method, route),
                Some(Access::Role(Role::Admin)),
                "{route}"
            );
        }
        assert_eq!(needs(Method::GET, "/api/v1/openapi.json"), None);
    }
}
