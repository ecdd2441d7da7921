//! Test-only: holds a topic's compaction at its first cancellation check, so a test
//! knows a compaction is in progress while it deletes the topic or commits offsets.
//! Holds are keyed by topic name, so tests running in parallel never interfere.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::partition::Partition;

struct Hold {
    topic: String,
    /// Whether the held compaction also resumes once its partition starts closing (a
    /// compaction that checks for cancellation), or only when released (one busy in a
    /// long batch).
    until_closing: bool,
    reached: bool,
    released: bool,
    /// Whether the compaction is waiting in the hold now.
    waiting: bool,
}

static HOLDS: Mutex<Vec<Hold>> = Mutex::new(Vec::new());
static CHANGED: Condvar = Condvar::new();
/// Bound on every wait, so a broken build fails a test instead of hanging it (longer
/// than the tests' own bounds, so it never ends a hold a test relies on).
const GUARD: Duration = Duration::from_secs(120);

fn holds() -> MutexGuard<'static, Vec<Hold>> {
    HOLDS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Holds the next compaction of `topic` at its first check.
pub fn hold(topic: &str, until_closing: bool) {
    holds().push(Hold {
        topic: topic.to_string(),
        until_closing,
        reached: false,
        released: false,
        waiting: false,
    });
}

/// Waits until a compaction of `topic` is held; false if none came.
pub fn wait_reached(topic: &str) -> bool {
    let guard = holds();
    let (guard, _) = CHANGED
        .wait_timeout_while(guard, GUARD, |h| {
            !h.iter().any(|h| h.topic == topic && h.reached)
        })
        .unwrap_or_else(PoisonError::into_inner);
    guard.iter().any(|h| h.topic == topic && h.reached)
}

/// Whether the compaction of `topic` is waiting in its hold now.
pub fn waiting(topic: &str) -> bool {
    holds().iter().any(|h| h.topic == topic && h.waiting)
}

/// Releases the hold of its topic when dropped, so a failing test never leaves a
/// compaction held.
pub struct Releaser(pub &'static str);

impl Drop for Releaser {
    fn drop(&mut self) {
        release(self.0);
    }
}

/// Lets the held compaction of `topic` go on, and every later check pass.
pub fn release(topic: &str) {
    holds()
        .iter_mut()
        .filter(|h| h.topic == topic)
        .for_each(|h| h.released = true);
    CHANGED.notify_all();
}

/// Called at each cancellation check of a compaction of `partition`.
pub(super) fn check(partition: &Partition) {
    let topic = &partition.ident().topic;
    let mut guard = holds();
    let Some(i) = guard.iter().position(|h| &h.topic == topic) else {
        return;
    };
    guard[i].reached = true;
    guard[i].waiting = true;
    CHANGED.notify_all();
    let mut waited = Duration::ZERO;
    let resumes = |h: &Hold| h.released || (h.until_closing && partition.closing());
    while !resumes(&guard[i]) && waited < GUARD {
        let step = Duration::from_millis(5);
        guard = CHANGED
            .wait_timeout(guard, step)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
        waited += step;
    }
    guard[i].waiting = false;
}
