//! SASL/PLAIN on the Kafka listener: the state of one connection's authentication, and
//! the PLAIN message (RFC 4616) carrying the server's access token as the password.
//!
//! With `--auth-token-file`, a connection starts unauthenticated: only ApiVersions,
//! SaslHandshake and SaslAuthenticate are answered, anything else closes it (as Kafka
//! closes a SASL listener's connection that skips authentication). A handshake
//! choosing PLAIN is followed by the PLAIN message, in a SaslAuthenticate request
//! (handshake version 1) or as a bare frame (version 0); the token in it gives the
//! connection the grants (roles and name scopes) the token file lists for it, which
//! [`authorize`](super::authorize) checks on every later request. The user name is
//! not checked (Kafka clients insist on one; the token alone identifies the caller). A
//! failed authentication ends the connection after its answer.

use std::sync::{Arc, Mutex, PoisonError};

use crate::service::access::Grant;
use crate::service::tokens::TokenTable;

/// The one mechanism served.
pub const PLAIN: &str = "PLAIN";

/// Where a connection is in its authentication.
#[derive(Debug, Clone)]
pub enum AuthState {
    /// The server has no tokens: every request is served.
    Open,
    /// No handshake yet.
    Start,
    /// A version 1 handshake chose PLAIN: SaslAuthenticate comes next.
    Handshaken,
    /// A version 0 handshake chose PLAIN: the next frame is the bare PLAIN message.
    AwaitingBareToken,
    /// Authenticated, with the token's grants.
    Authenticated(Arc<[Grant]>),
    /// Authentication failed: the connection closes.
    Failed,
}

/// One connection's authentication.
#[derive(Debug)]
pub struct Session {
    tokens: Option<Arc<TokenTable>>,
    state: Mutex<AuthState>,
}

impl Session {
    /// A connection's session: open when `tokens` is `None`.
    pub fn new(tokens: Option<Arc<TokenTable>>) -> Session {
        let state = match tokens {
            Some(_) => AuthState::Start,
            None => AuthState::Open,
        };
        Session {
            tokens,
            state: Mutex::new(state),
        }
    }

    /// The current state.
    pub fn state(&self) -> AuthState {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Moves to `state`.
    pub fn set(&self, state: AuthState) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = state;
    }

    /// Whether the server requires authentication.
    pub fn required(&self) -> bool {
        self.tokens.is_some()
    }

    /// Checks a PLAIN message; on success the connection is authenticated with the
    /// token's grants, on failure it is marked failed. The error says why, never
    /// quoting the token.
    pub fn authenticate(&self, message: &[u8]) -> Result<(), String> {
        let outcome = match (&self.tokens, plain_password(message)) {
            (None, _) => Err("this listener has no authentication".to_string()),
            (_, Err(why)) => Err(why),
            (Some(tokens), Ok(password)) => {
                let grants: Vec<Grant> = tokens.grants_of(password).into_iter().cloned().collect();
                match grants.is_empty() {
                    true => Err("authentication failed: invalid token".to_string()),
                    false => Ok(grants),
                }
            }
        };
        match outcome {
            Ok(grants) => {
                self.set(AuthState::Authenticated(grants.into()));
                Ok(())
            }
            Err(why) => {
                self.set(AuthState::Failed);
                Err(why)
            }
        }
    }
}

/// The password of a PLAIN message `[authzid] NUL authcid NUL passwd`.
fn plain_password(message: &[u8]) -> Result<&[u8], String> {
    let mut fields = message.splitn(3, |b| *b == 0);
    let (Some(_authzid), Some(user), Some(password)) =
        (fields.next(), fields.next(), fields.next())
    else {
        return Err("malformed PLAIN message: expected [authzid] NUL user NUL password".into());
    };
    if user.is_empty() || password.is_empty() {
        return Err("malformed PLAIN message: empty user name or password".into());
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        let table = TokenTable::parse("reader-token-0123456789 consumer\n").unwrap();
        Session::new(Some(Arc::new(table)))
    }

    #[test]
    fn a_known_token_authenticates_with_its_grants() {
        let session = session();
        assert!(matches!(session.state(), AuthState::Start));
        session
            .authenticate(b"\0anyone\0reader-token-0123456789")
            .unwrap();
        match session.state() {
            AuthState::Authenticated(grants) => assert_eq!(grants.len(), 1),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wrong_tokens_and_malformed_messages_fail_without_quoting_the_token() {
        for message in [
            &b"\0user\0wrong-token-0123456789"[..],
            b"user\0reader-token-0123456789",
            b"\0user\0",
            b"\0\0reader-token-0123456789",
            b"",
        ] {
            let session = session();
            let why = session.authenticate(message).unwrap_err();
            assert!(!why.contains("token-0123456789"), "{why}");
            assert!(matches!(session.state(), AuthState::Failed));
        }
        let open = Session::new(None);
        assert!(matches!(open.state(), AuthState::Open));
        assert!(open.authenticate(b"\0u\0p").is_err());
    }
}
