//! The token file of `--auth-token-file` and the constant-time lookup of a presented
//! token.
//!
//! One token per line, optionally followed by a role (`admin`, `producer` or
//! `consumer`; a bare token is admin). Blank lines and lines starting with `#` are
//! ignored. A token listed on several lines holds every role it is listed with. Errors
//! name the line, never the token.

use std::fmt;
use std::path::{Path, PathBuf};

use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use super::access::{Role, Roles};

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

/// The configured tokens and their roles.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenTable {
    entries: Vec<(Box<[u8]>, Roles)>,
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
                        format!("unknown role {name:?} (expected admin, producer or consumer)"),
                    )
                })?,
            };
            if fields.next().is_some() {
                return Err((
                    number,
                    "too many fields (expected: TOKEN [ROLE])".to_string(),
                ));
            }
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
            entries.push((token.as_bytes().into(), Roles::of(role)));
        }
        if entries.is_empty() {
            return Err((0, String::new()));
        }
        Ok(TokenTable { entries })
    }

    /// The roles of `presented`; empty if it is not a configured token.
    ///
    /// Every configured token is compared, each in constant time, whatever matched
    /// before: the time taken says nothing about which token or how much of it matched.
    pub fn roles_of(&self, presented: &[u8]) -> Roles {
        let mut roles = 0u8;
        for (token, granted) in &self.entries {
            let matched = same_token(token, presented);
            roles |= u8::conditional_select(&0, &granted.0, matched);
        }
        Roles(roles)
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
        assert!(problem.contains("too many fields"), "{problem}");
        assert!(!problem.contains("secret-value-xyz"), "{problem}");

        let (line, _) = TokenTable::parse("caf\u{e9}-token admin\n").unwrap_err();
        assert_eq!(line, 1);
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
