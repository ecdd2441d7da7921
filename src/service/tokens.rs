//! The token file of `--auth-token-file` and the constant-time lookup of a presented
//! token.
//!
//! One token per line: `TOKEN [ROLE] [topic=PREFIX]... [group=PREFIX]...`. The role is
//! `admin`, `producer`, `consumer` or `node` (a bare token is admin; `node` is the token
//! other nodes of a cluster send, see `crate::cluster::peer_security`); the prefixes limit the
//! topics and groups the line grants (see [`scope`](super::scope); none: every one).
//! Blank lines and lines starting with `#` are ignored. A token listed on several lines
//! holds every grant it is listed with. Errors name the line, never the token.

use std::fmt;
use std::path::{Path, PathBuf};

use subtle::{Choice, ConstantTimeEq};

use super::access::{Grant, Role, Roles};
use super::scope::Scope;

/// Tokens shorter than this are accepted but warned about: they can be guessed.
const SHORT_TOKEN: usize = 16;

/// Loading the token file failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    /// The file could not be read.
    #[error("cannot read token file {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error (in the message, not a `source`, so it prints once).
        error: std::io::Error,
    },
    /// A line is malformed.
    #[error("token file {}, line {line}: {problem}", path.display())]
    Line {
        /// The file.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// What is wrong (never quoting the token).
        problem: String,
    },
    /// The file holds no token, which would lock every client out.
    #[error("token file {} holds no token", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

/// The configured tokens and their grants.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenTable {
    entries: Vec<(Box<[u8]>, Grant)>,
}

impl TokenTable {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<TokenTable, TokenFileError> {
        let text = std::fs::read_to_string(path).map_err(|error| TokenFileError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Self::parse(&text).map_err(|(line, problem)| match line {
            0 => TokenFileError::Empty {
                path: path.to_path_buf(),
            },
            line => TokenFileError::Line {
                path: path.to_path_buf(),
                line,
                problem,
            },
        })
    }

    /// Parses the file's text; an error is (line number, problem), line 0 meaning the
    /// file holds no token.
    pub fn parse(text: &str) -> Result<TokenTable, (usize, String)> {
        let mut entries = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let token = fields.next().unwrap_or_default();
            let role = match fields.next() {
                None => Role::Admin,
                Some(name) => Role::parse(name).ok_or_else(|| {
                    (
                        number,
                        format!(
                            "unknown role {name:?} (expected admin, producer, consumer or node; \
                             a line is TOKEN [ROLE] [topic=PREFIX]... [group=PREFIX]... [producer=PREFIX]...)"
                        ),
                    )
                })?,
            };
            let scope = Scope::of_fields(fields).map_err(|problem| (number, problem))?;
            if !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err((
                    number,
                    "the token has characters an HTTP header cannot carry (use printable ASCII)"
                        .to_string(),
                ));
            }
            if token.len() < SHORT_TOKEN {
                tracing::warn!(
                    line = number,
                    "a token is shorter than {SHORT_TOKEN} characters and may be guessed"
                );
            }
            entries.push((token.as_bytes().into(), Grant { role, scope }));
        }
        if entries.is_empty() {
            return Err((0, String::new()));
        }
        Ok(TokenTable { entries })
    }

    /// The grants of `presented`; none if it is not a configured token.
    ///
    /// Every configured token is compared, each in constant time, whatever matched
    /// before: the time taken says nothing about which token or how much of it matched
    /// (only whether one matched, which the reply tells anyway).
    pub fn grants_of(&self, presented: &[u8]) -> Vec<&Grant> {
        let mut grants = Vec::new();
        for (token, grant) in &self.entries {
            if bool::from(same_token(token, presented)) {
                grants.push(grant);
            }
        }
        grants
    }

    /// The roles of `presented`; empty if it is not a configured token.
    pub fn roles_of(&self, presented: &[u8]) -> Roles {
        Roles::of_grants(self.grants_of(presented))
    }

    /// How many token lines were loaded.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no token is configured (never true for a loaded table).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Whether `presented` equals `configured`, in a time that depends only on the
/// configured token's length: a slice comparison that stops early on differing lengths
/// would tell a caller how long the tokens are.
fn same_token(configured: &[u8], presented: &[u8]) -> Choice {
    let mut same = (configured.len() as u64).ct_eq(&(presented.len() as u64));
    for (i, byte) in configured.iter().enumerate() {
        same &= byte.ct_eq(presented.get(i).unwrap_or(&0));
    }
    same
}

impl fmt::Debug for TokenTable {
    // A count only: tokens must never reach a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenTable({} tokens)", self.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_tokens_are_admin_and_roles_are_merged() {
        let table = TokenTable::parse(
            "# comment\n\nroot-token-0123456789\n  app-token-0123456789 producer\napp-token-0123456789 consumer\n",
        )
        .unwrap();
        assert_eq!(table.len(), 3);
        assert!(table.roles_of(b"root-token-0123456789").allow(Role::Admin));
        let app = table.roles_of(b"app-token-0123456789");
        assert!(app.allow(Role::Producer) && app.allow(Role::Consumer));
        assert!(!app.allow(Role::Admin));
        assert!(table.roles_of(b"app-token-012345678").is_empty());
        assert!(table.roles_of(b"app-token-01234567890").is_empty());
        assert!(table.roles_of(b"app-token-0123456788").is_empty());
        assert!(table.roles_of(b"").is_empty());
    }

    #[test]
    fn malformed_lines_name_the_line_and_not_the_token() {
        let (line, problem) =
            TokenTable::parse("good-token-0123456789\nsecret-value-xyz reader\n").unwrap_err();
        assert_eq!(line, 2);
        assert!(problem.contains("unknown role \"reader\""), "{problem}");
        assert!(!problem.contains("secret-value-xyz"), "{problem}");

        let (line, problem) = TokenTable::parse("secret-value-xyz admin extra\n").unwrap_err();
        assert_eq!(line, 1);
        assert!(problem.contains("unexpected field \"extra\""), "{problem}");
        assert!(!problem.contains("secret-value-xyz"), "{problem}");

        let (line, _) = TokenTable::parse("caf\u{e9}-token admin\n").unwrap_err();
        assert_eq!(line, 1);
    }

    #[test]
    fn lines_without_prefixes_grant_every_name_as_before_and_prefixes_scope_a_line() {
        // A file in the format before scopes existed: every grant covers every name.
        let old = TokenTable::parse(
            "root-token-0123456789\napp-token-0123456789 producer\napp-token-0123456789 consumer\n",
        )
        .unwrap();
        for token in [&b"root-token-0123456789"[..], b"app-token-0123456789"] {
            let grants = old.grants_of(token);
            assert!(!grants.is_empty());
            assert!(grants.iter().all(|g| g.scope == Scope::everything()));
        }
        let scoped = TokenTable::parse(
            "team-token-0123456789 consumer topic=orders. group=orders-\n\
             team-token-0123456789 producer topic=audit\n",
        )
        .unwrap();
        let grants = scoped.grants_of(b"team-token-0123456789");
        assert_eq!(grants.len(), 2);
        let consumer = &grants[0].scope;
        assert!(consumer.allows_topic("orders.eu") && consumer.allows_group("orders-app"));
        assert!(!consumer.allows_topic("audit") && !consumer.allows_group("billing"));
        assert!(grants[1].scope.allows_topic("audit") && !grants[1].scope.allows_group("x"));
        let (line, problem) =
            TokenTable::parse("secret-value-0123456789 topic=orders.\n").unwrap_err();
        assert_eq!(line, 1);
        assert!(problem.contains("TOKEN [ROLE] [topic=PREFIX]"), "{problem}");
        assert!(!problem.contains("secret-value"), "{problem}");
    }

    #[test]
    fn a_file_without_tokens_is_an_error() {
        assert_eq!(TokenTable::parse("# only a comment\n\n").unwrap_err().0, 0);
    }

    #[test]
    fn debug_output_shows_no_token() {
        let table = TokenTable::parse("secret-value-0123456789\n").unwrap();
        assert!(!format!("{table:?}").contains("secret"));
    }
}
