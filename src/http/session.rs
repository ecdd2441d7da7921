//! The console's login: `POST /api/v1/session {"token": ...}` checks the token and
//! answers with it in a cookie that scripts cannot read (HttpOnly), that the browser
//! sends only on requests from this site (SameSite=Strict, so another site cannot use
//! it), and over TLS only when the listener has TLS (Secure). `DELETE` logs out;
//! `GET` says whether a token is needed and whether the caller has a valid one.
//! The cookie holds the token base64url-encoded, as cookie values cannot hold every
//! character a token file may.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::ApiError;
use super::body::{Reply, json_body};
use crate::service::auth;
use crate::service::tokens::TokenTable;

/// The session cookie's name.
const COOKIE_NAME: &str = "eventlog_token";

/// Any-token RPC used to check a login: every valid token may list topics.
const LOGIN_CHECK: &str = "/eventlog.v1.Admin/ListTopics";

/// What the session endpoints need to know.
#[derive(Clone)]
pub struct Sessions {
    /// The token table, `None` without authentication.
    pub tokens: Option<Arc<TokenTable>>,
    /// Whether the listener speaks TLS (the cookie is then `Secure`).
    pub secure: bool,
}

/// The body of a login.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    token: String,
}

/// The session state.
#[derive(Debug, Serialize)]
pub struct SessionState {
    /// Whether the server asks for tokens at all.
    auth_required: bool,
    /// Whether this request carries a valid token.
    authenticated: bool,
}

/// The token in the session cookie, if there is one.
pub fn token_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .and_then(|(_, value)| URL_SAFE_NO_PAD.decode(value).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
}

/// `GET /api/v1/session`
pub async fn state(State(sessions): State<Sessions>, headers: HeaderMap) -> Reply<SessionState> {
    let authenticated = match &sessions.tokens {
        None => true,
        Some(tokens) => {
            let mut headers = headers;
            if let Some(token) = token_of(&headers)
                && let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}"))
            {
                headers.insert(AUTHORIZATION, value);
            }
            auth::check(tokens, LOGIN_CHECK, &headers).is_ok()
        }
    };
    Reply(
        StatusCode::OK,
        SessionState {
            auth_required: sessions.tokens.is_some(),
            authenticated,
        },
    )
}

/// `POST /api/v1/session`: checks the token and sets the cookie.
pub async fn login(
    State(sessions): State<Sessions>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let login: Login = json_body(&headers, &body)?;
    if let Some(tokens) = &sessions.tokens {
        let mut presented = HeaderMap::new();
        let value = HeaderValue::from_str(&format!("Bearer {}", login.token))
            .map_err(|_| ApiError::invalid("the token holds characters a header cannot"))?;
        presented.insert(AUTHORIZATION, value);
        auth::check(tokens, LOGIN_CHECK, &presented)?;
    }
    let cookie = format!(
        "{COOKIE_NAME}={}; Path=/; HttpOnly; SameSite=Strict{}",
        URL_SAFE_NO_PAD.encode(login.token.as_bytes()),
        if sessions.secure { "; Secure" } else { "" }
    );
    Ok(set_cookie(cookie))
}

/// `DELETE /api/v1/session`: clears the cookie.
pub async fn logout(State(sessions): State<Sessions>) -> Response {
    let secure = if sessions.secure { "; Secure" } else { "" };
    set_cookie(format!(
        "{COOKIE_NAME}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"
    ))
}

fn set_cookie(cookie: String) -> Response {
    match HeaderValue::from_str(&cookie) {
        Ok(value) => (StatusCode::NO_CONTENT, [(SET_COOKIE, value)]).into_response(),
        Err(_) => ApiError::internal("building the cookie failed").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_read_back_from_among_other_cookies() {
        let mut headers = HeaderMap::new();
        let encoded = URL_SAFE_NO_PAD.encode("tok en;=");
        let cookie = format!("a=b; {COOKIE_NAME}={encoded}; c=d");
        headers.insert(COOKIE, HeaderValue::from_str(&cookie).unwrap());
        assert_eq!(token_of(&headers).as_deref(), Some("tok en;="));
        assert_eq!(token_of(&HeaderMap::new()), None);
    }
}
