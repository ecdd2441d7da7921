//! The one line a failed command prints on stderr: `error: ` and the error with its
//! causes, each cause once.
//!
//! Library errors often show their source in their own message *and* return it as
//! their `source()`, so printing the whole chain naively repeats the innermost cause
//! (`... failed: X is locked: X is locked`). [`one_line`] drops a cause whose text the
//! cause before it already contains.

use std::fmt;

/// The error and its causes joined with `: `, leaving out each cause whose text is
/// already part of the one before it.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    let mut previous: Option<String> = None;
    for cause in err.chain() {
        let text = cause.to_string();
        let repeated = previous.as_deref().is_some_and(|p| p.contains(&text));
        if !repeated && !text.is_empty() {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
        previous = Some(text);
    }
    line
}

/// Prints `error: ` and [`one_line`] of `err` on stderr.
pub fn print(err: &anyhow::Error) {
    eprintln!("error: {}", one_line(err));
}

/// The error of a command that already printed its failures, one line each, as they
/// happened: the exit code is non-zero but nothing more is printed.
#[derive(Debug)]
pub struct Reported;

impl fmt::Display for Reported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("failures were reported above")
    }
}

impl std::error::Error for Reported {}

/// True when `err` is [`Reported`]: its lines are already on stderr.
pub fn is_reported(err: &anyhow::Error) -> bool {
    err.downcast_ref::<Reported>().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error that shows its source in its own message and also returns it.
    #[derive(Debug, thiserror::Error)]
    #[error("opening data directory failed: {source}")]
    struct Opening {
        #[source]
        source: Locked,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("data/LOCK is locked by another process")]
    struct Locked;

    #[test]
    fn a_cause_already_in_the_message_before_it_is_not_repeated() {
        let err = anyhow::Error::new(Opening { source: Locked }).context("cannot compact data");
        assert_eq!(
            format!("{err:#}"),
            "cannot compact data: opening data directory failed: data/LOCK is locked by another process: data/LOCK is locked by another process",
            "the plain chain repeats itself"
        );
        assert_eq!(
            one_line(&err),
            "cannot compact data: opening data directory failed: data/LOCK is locked by another process"
        );
    }

    #[test]
    fn distinct_causes_are_all_kept() {
        let err = anyhow::Error::new(Locked)
            .context("opening the topic")
            .context("cannot start");
        assert_eq!(
            one_line(&err),
            "cannot start: opening the topic: data/LOCK is locked by another process"
        );
    }
}
