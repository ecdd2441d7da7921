//! `fdatasync` on the append path, timed into the `eventlog_fsync_seconds` histogram.
//!
//! The storage engine reports through the `metrics` facade rather than a callback hook of
//! its own: the facade already is such a hook, designed for libraries. With no recorder
//! installed (embedded use, tests, benches) a recording is a no-op behind one atomic
//! load; with one, the server's exporter picks it up. A home-made hook would need either
//! a callback in [`LogConfig`](super::LogConfig), which is plain comparable data, or a
//! process-global registration, which is the facade again. The facade knows nothing of
//! async runtimes, gRPC or the CLI, so the engine stays free of them.

use std::fs::File;
use std::io;
use std::path::Path;
use std::time::Instant;

/// Histogram of the durations of data `fdatasync` calls on the append path (group
/// commits, interval syncs, segment seals, syncs at close), in seconds.
pub const FSYNC_SECONDS: &str = "eventlog_fsync_seconds";

/// [`fsutil::sync_data`](super::fsutil::sync_data) of `file` (at `path`), recording how
/// long it took (failures included: a slow failing disk is what an operator needs to see).
pub(crate) fn fdatasync(file: &File, path: &Path) -> io::Result<()> {
    let started = Instant::now();
    let result = super::fsutil::sync_data(file, path);
    metrics::histogram!(FSYNC_SECONDS).record(started.elapsed().as_secs_f64());
    result
}
