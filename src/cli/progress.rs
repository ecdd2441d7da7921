//! Progress bars for long offline operations (verify, compact): drawn on stderr when it
//! is a terminal, absent otherwise, so piped output and cron logs stay clean.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `total` steps labelled `what`, or a hidden one when stderr is not a
/// terminal. Every method of a hidden bar does nothing, so callers never branch.
pub fn bar(total: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    // The template is a constant; should it ever fail to parse, the default style does.
    if let Ok(style) =
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(what.to_string());
    bar
}
