//! The startup scrub: once, after the broker opens, a background thread reads every
//! sealed segment of every partition and checks each batch (see
//! [`crate::storage::scrub`]). Opening trusts sealed segments without reading them, so
//! this is what reports damage in them right after a start, with file and byte
//! position, instead of when a reader first reaches it. The broker serves meanwhile;
//! the thread stops between segments when the broker shuts down. It reads at a bounded
//! rate: on a large data directory a full-speed scrub would take the disk and the page
//! cache from producers and consumers right when they reconnect after a restart.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use super::periodic::{PeriodicThread, StopSignal};
use super::ticker::TopicMap;
use super::topic::Topic;
use crate::storage::scrub::{report_damage, scrub_segment};

/// Starts the scrub thread reading at most `bytes_per_sec` (none when 0);
/// [`PeriodicThread::stop`] ends it early.
pub fn start(topics: Arc<TopicMap>, bytes_per_sec: u64) -> std::io::Result<Option<PeriodicThread>> {
    if bytes_per_sec == 0 {
        tracing::info!("sealed segment scrub turned off");
        return Ok(None);
    }
    // One round, at once: `false` ends the thread when the round is done.
    PeriodicThread::start("eventlog-scrub", Duration::ZERO, move |stop| {
        scrub_all(&topics, stop, bytes_per_sec);
        false
    })
    .map(Some)
}

/// How long to pause so that `bytes` read since the scrub started `elapsed` ago average
/// at most `bytes_per_sec`.
fn pause(bytes: u64, bytes_per_sec: u64, elapsed: Duration) -> Duration {
    let due = Duration::from_secs_f64(bytes as f64 / bytes_per_sec.max(1) as f64);
    due.saturating_sub(elapsed)
}

fn scrub_all(topics: &TopicMap, stop: &StopSignal, bytes_per_sec: u64) {
    let started = Instant::now();
    let snapshot: BTreeMap<String, Arc<Topic>> = topics
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let (mut segments, mut bytes, mut damaged, mut unreadable) = (0u64, 0u64, 0usize, 0usize);
    for topic in snapshot.values() {
        for partition in topic.partitions() {
            // A partition closed meanwhile (topic deleted) has nothing left to check.
            let Ok(sealed) = partition.with_log(|log| log.segments_to_scrub()) else {
                continue;
            };
            for segment in sealed {
                // Paced here, before each read: the wait also notices a shutdown.
                if stop.wait(pause(bytes, bytes_per_sec, started.elapsed())) {
                    tracing::info!(
                        segments,
                        bytes,
                        damaged,
                        unreadable,
                        "sealed segment scrub stopped by shutdown"
                    );
                    return;
                }
                match scrub_segment(&segment) {
                    Ok(outcome) => {
                        // A segment replaced meanwhile was scanned as whatever file then
                        // had its name: its findings mean nothing.
                        // A segment is retired before its replacement is renamed over
                        // its path, so a scan that read the new file sees it retired;
                        // the list is only updated after the rename.
                        let current = partition.with_log(|log| log.holds_segment(&segment));
                        if segment.is_retired() || !matches!(current, Ok(true)) {
                            continue;
                        }
                        report_damage(partition.ident(), &segment, &outcome.damage);
                        segments += 1;
                        bytes += outcome.bytes;
                        damaged += outcome.damage.len();
                    }
                    // Deleted by retention or replaced by compaction since the snapshot.
                    Err(error) if error.is_not_found() => {}
                    Err(error) => {
                        // A disk read error: reported, and the scrub goes on with the next
                        // segment. Reads of this segment will meet the same error.
                        unreadable += 1;
                        tracing::error!(
                            partition = %partition.ident(), segment = %segment.path.display(), %error,
                            "cannot read sealed segment: skipped by the scrub"
                        );
                    }
                }
            }
        }
    }
    tracing::info!(
        segments,
        bytes,
        damaged,
        unreadable,
        "sealed segments scrubbed"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_keeps_the_average_rate_at_the_limit() {
        let mib = 1 << 20;
        // 64 MiB read in 0.5 s at 64 MiB/s: wait out the other half second.
        assert_eq!(
            pause(64 * mib, 64 * mib, Duration::from_millis(500)),
            Duration::from_millis(500)
        );
        // Behind the rate already: no pause.
        assert_eq!(pause(mib, 64 * mib, Duration::from_secs(1)), Duration::ZERO);
        assert_eq!(pause(0, 64 * mib, Duration::ZERO), Duration::ZERO);
    }
}
