//! A named background thread that runs a round of work every period until stopped.
//! The ticker and the cleaner are both one of these; only their rounds differ.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Lets a long round notice a stop request between steps.
pub struct StopSignal(Receiver<()>);

impl StopSignal {
    /// Whether [`PeriodicThread::stop`] was called (or the handle dropped).
    pub fn requested(&self) -> bool {
        !matches!(self.0.try_recv(), Err(TryRecvError::Empty))
    }

    /// Sleeps for `timeout` unless a stop is requested first; true if it was.
    pub fn wait(&self, timeout: Duration) -> bool {
        !matches!(self.0.recv_timeout(timeout), Err(RecvTimeoutError::Timeout))
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
                let signal = StopSignal(stopped);
                // Any message or a dropped sender ends the loop.
                while let Err(RecvTimeoutError::Timeout) = signal.0.recv_timeout(period) {
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
