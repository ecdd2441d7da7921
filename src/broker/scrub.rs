//! The startup scrub: once, after the broker opens, a background thread reads every
//! sealed segment of every partition and checks each batch (see
//! [`crate::storage::scrub`]). Opening trusts sealed segments without reading them, so
//! this is what reports damage in them right after a start, with file and byte
//! position, instead of when a reader first reaches it. The broker serves meanwhile;
//! the thread stops between segments when the broker shuts down.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use super::periodic::{PeriodicThread, StopSignal};
use super::ticker::TopicMap;
use super::topic::Topic;
use crate::storage::scrub::{report_damage, scrub_segment};

/// Starts the scrub thread; [`PeriodicThread::stop`] ends it early.
pub fn start(topics: Arc<TopicMap>) -> std::io::Result<PeriodicThread> {
    // One round, at once: `false` ends the thread when the round is done.
    PeriodicThread::start("eventlog-scrub", Duration::ZERO, move |stop| {
        scrub_all(&topics, stop);
        false
    })
}

fn scrub_all(topics: &TopicMap, stop: &StopSignal) {
    let snapshot: BTreeMap<String, Arc<Topic>> = topics
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let (mut segments, mut bytes, mut damaged) = (0u64, 0u64, 0usize);
    for topic in snapshot.values() {
        for partition in topic.partitions() {
            // A partition closed meanwhile (topic deleted) has nothing left to check.
            let Ok(sealed) = partition.with_log(|log| log.sealed_segments()) else {
                continue;
            };
            for segment in sealed {
                if stop.requested() {
                    tracing::info!(
                        segments,
                        bytes,
                        damaged,
                        "sealed segment scrub stopped by shutdown"
                    );
                    return;
                }
                match scrub_segment(&segment) {
                    Ok(outcome) => {
                        // A segment replaced meanwhile was scanned as whatever file then
                        // had its name: its findings mean nothing.
                        let current = partition.with_log(|log| log.holds_segment(&segment));
                        if !matches!(current, Ok(true)) {
                            continue;
                        }
                        report_damage(partition.ident(), &segment, &outcome.damage);
                        segments += 1;
                        bytes += outcome.bytes;
                        damaged += outcome.damage.len();
                    }
                    // Deleted by retention or replaced by compaction since the snapshot.
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                    Err(error) => tracing::warn!(
                        partition = %partition.ident(), segment = %segment.path.display(), %error,
                        "cannot scrub sealed segment"
                    ),
                }
            }
        }
    }
    tracing::info!(segments, bytes, damaged, "sealed segments scrubbed");
}
