//! Topic names: validated so that a name is always a single, safe directory name.

use std::fmt;

use super::error::BrokerError;

/// Longest topic name, in bytes (all allowed characters are ASCII).
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// A validated topic name: 1 to 249 characters of `[A-Za-z0-9._-]`, neither `.` nor `..`.
/// Such a name never escapes the data directory and never contains `~`, which the
/// registry reserves for directories being created or deleted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicName(String);

impl TopicName {
    /// Checks `name` against the rules.
    pub fn parse(name: &str) -> Result<TopicName, BrokerError> {
        let invalid = |reason| BrokerError::InvalidTopicName {
            name: shown(name),
            reason,
        };
        if name.is_empty() {
            return Err(invalid("a name must not be empty"));
        }
        if name.len() > MAX_TOPIC_NAME_LEN {
            return Err(invalid("a name must be at most 249 characters"));
        }
        if name == "." || name == ".." {
            return Err(invalid("a name must not be \".\" or \"..\""));
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if !name.chars().all(allowed) {
            return Err(invalid(
                "a name may only contain A-Z, a-z, 0-9, '.', '_' and '-'",
            ));
        }
        Ok(TopicName(name.to_string()))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Characters of a rejected name repeated in its error message.
const SHOWN_CHARS: usize = 64;

/// A rejected name as its error message shows it: cut to [`SHOWN_CHARS`] characters, as
/// the message travels in a response header, and a name of megabytes would make the
/// response itself too large to deliver.
fn shown(name: &str) -> String {
    match name.char_indices().nth(SHOWN_CHARS) {
        Some((cut, _)) => format!("{}... ({} bytes)", &name[..cut], name.len()),
        None => name.to_string(),
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_allowed_alphabet() {
        for name in ["a", "orders", "Orders.v2_eu-west", "..a", &"x".repeat(249)] {
            assert_eq!(TopicName::parse(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn a_long_rejected_name_is_shown_cut() {
        let err = TopicName::parse(&"x".repeat(100_000)).unwrap_err();
        let message = err.to_string();
        assert!(message.len() < 200, "{message}");
        assert!(message.contains("(100000 bytes)"), "{message}");
        assert!(message.contains("at most 249"), "{message}");
    }

    #[test]
    fn rejects_names_that_could_escape_or_clash() {
        let long = "x".repeat(250);
        for name in [
            "",
            ".",
            "..",
            "a/b",
            "../x",
            "a b",
            "a~deleted-1",
            "é",
            &long,
        ] {
            assert!(TopicName::parse(name).is_err(), "{name:?} accepted");
        }
    }
}
