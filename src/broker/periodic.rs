//! A named background thread that runs a round of work every period until stopped.
//! The ticker and the cleaner are both one of these; only their rounds differ.

use std::cell::Cell;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Lets a long round notice a stop request between steps.
///
/// The request arrives as one message on a channel; receiving it consumes it, so the
/// signal remembers it. Without that, a round that noticed the stop but still returned
/// "go on" would leave the thread waiting for a message that was already taken, and
/// `stop` would wait for the thread forever.
pub struct StopSignal {
    channel: Receiver<()>,
    seen: Cell<bool>,
}

impl StopSignal {
    /// Whether [`PeriodicThread::stop`] was called (or the handle dropped).
    pub fn requested(&self) -> bool {
        if !self.seen.get() && !matches!(self.channel.try_recv(), Err(TryRecvError::Empty)) {
            self.seen.set(true);
        }
        self.seen.get()
    }

    /// Sleeps for `timeout` unless a stop is requested first; true if it was.
    pub fn wait(&self, timeout: Duration) -> bool {
        if !self.seen.get()
            && !matches!(
                self.channel.recv_timeout(timeout),
                Err(RecvTimeoutError::Timeout)
            )
        {
            self.seen.set(true);
        }
        self.seen.get()
    }
}

/// Runs one unit of a round (one partition's housekeeping) so that a panic in it ends
/// only that unit: it is logged naming `unit`, and the round goes on with the others.
/// Without this, one partition's defect would stop the thread, and with it the rolls,
/// fsyncs and cleanup of every other partition. The storage locks do not stay poisoned
/// for the failed unit either: a log whose writer panicked turns read-only.
pub fn isolated(unit: &dyn std::fmt::Display, work: impl FnOnce()) {
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!(%unit, panic = %what, "background work panicked; skipped it, the others go on");
    }
}

/// Handle of a periodic thread; [`PeriodicThread::stop`] ends it.
pub struct PeriodicThread {
    name: &'static str,
    stop: mpsc::Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl PeriodicThread {
    /// Starts thread `name`, calling `round` every `period` until stopped or until
    /// `round` returns false.
    pub fn start(
        name: &'static str,
        period: Duration,
        mut round: impl FnMut(&StopSignal) -> bool + Send + 'static,
    ) -> std::io::Result<PeriodicThread> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let signal = StopSignal {
                    channel: stopped,
                    seen: Cell::new(false),
                };
                // Any message or a dropped sender ends the loop, also one a round took.
                while !signal.wait(period) {
                    if !round(&signal) {
                        break;
                    }
                }
            })?;
        Ok(PeriodicThread {
            name,
            stop,
            thread: Some(thread),
        })
    }

    /// Asks the thread to stop and waits for its current round to finish.
    pub fn stop(mut self) {
        let _ = self.stop.send(());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!(thread = self.name, "background thread panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_unit_leaves_the_thread_running_its_rounds() {
        let (ran, rounds) = mpsc::channel();
        let thread = PeriodicThread::start("test-periodic", Duration::from_millis(1), move |_| {
            isolated(&"a failing partition", || panic!("a defect"));
            let _ = ran.send(());
            true
        })
        .unwrap();
        for _ in 0..3 {
            rounds
                .recv_timeout(Duration::from_secs(30))
                .expect("rounds go on after a unit panicked");
        }
        thread.stop();
    }

    #[test]
    fn a_round_that_noticed_the_stop_but_goes_on_still_ends_the_thread() {
        let (noticed, notices) = mpsc::channel();
        let (started, starts) = mpsc::channel();
        let thread =
            PeriodicThread::start("test-periodic", Duration::from_millis(1), move |stop| {
                let _ = started.send(());
                // Like a cleaner whose last partition's compaction was cancelled: it saw
                // the request, yet its round reports nothing to stop for.
                while !stop.requested() {
                    std::thread::sleep(Duration::from_millis(1));
                }
                let _ = noticed.send(());
                true
            })
            .unwrap();
        starts
            .recv_timeout(Duration::from_secs(60))
            .expect("a round started");
        let (stopped, done) = mpsc::channel();
        std::thread::spawn(move || {
            thread.stop();
            let _ = stopped.send(());
        });
        notices
            .recv_timeout(Duration::from_secs(60))
            .expect("the round saw the stop request");
        done.recv_timeout(Duration::from_secs(60))
            .expect("stop returned after the round that consumed the request");
    }
}
