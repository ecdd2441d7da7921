//! Opening every partition log at start-up, on a bounded pool of threads.
//!
//! Opening a log is blocking work (a directory listing, the checkpoint, and after a
//! crash a scan of the active segment), independent from one partition to the next;
//! opened one after another, a data directory with many partitions starts as slowly as
//! the sum of them. The pool has [`pool_size`] threads (plain `std` threads: storage is
//! synchronous, and the async runtime is not running yet).
//!
//! A partition whose log fails to open does not stop the server: it starts
//! **unavailable** (see [`Partition::unavailable`]), logged as an error with the cause,
//! counted in the metrics and shown by `DescribeTopic`, while every other partition
//! serves. A restart opens it again (after the operator repaired what the error names).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use super::error::BrokerError;
use super::partition::Partition;
use super::topic::Topic;
use super::topic_config::TopicSummary;
use crate::storage::{FsyncPolicy, Log, LogConfig, LogIdent, OpenError, OpenSegments};

/// Most threads opening partitions at once.
const MAX_THREADS: usize = 32;

/// One partition log to open.
struct Job {
    dir: PathBuf,
    ident: LogIdent,
    config: LogConfig,
}

/// Threads for opening `jobs` partitions: two per CPU (opening mixes disk waits and
/// CRC work), at most [`MAX_THREADS`], never more than there are partitions.
pub fn pool_size(jobs: usize) -> usize {
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    (cpus * 2).clamp(2, MAX_THREADS).min(jobs.max(1))
}

/// Opens every partition of every topic found in the data directory, in parallel, and
/// returns the topics by name. A partition that cannot be opened is returned
/// unavailable; only running out of file descriptors or maps fails the whole open
/// (every partition would need them, so the remedy is a setting, not a repair).
pub fn open_topics(
    found: Vec<(TopicSummary, PathBuf)>,
    fsync: FsyncPolicy,
    open_segments: &OpenSegments,
) -> Result<BTreeMap<String, Arc<Topic>>, BrokerError> {
    let started = Instant::now();
    let jobs: Vec<Job> = found
        .iter()
        .flat_map(|(summary, dir)| {
            let config = Topic::log_config(summary, fsync, open_segments);
            (0..summary.partitions).map(move |number| Job {
                dir: dir.join(number.to_string()),
                ident: LogIdent::new(summary.name.clone(), number),
                config: config.clone(),
            })
        })
        .collect();
    let threads = pool_size(jobs.len());
    let opened = run_pool(&jobs, threads)?;
    let unavailable = opened
        .iter()
        .filter(|p| p.unavailable_reason().is_some())
        .count();
    tracing::info!(
        partitions = jobs.len(),
        unavailable,
        threads,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "partitions opened"
    );
    let mut opened = opened.into_iter();
    Ok(found
        .into_iter()
        .map(|(summary, _)| {
            let partitions = opened.by_ref().take(summary.partitions as usize).collect();
            (
                summary.name.clone(),
                Arc::new(Topic::assemble(summary, partitions)),
            )
        })
        .collect())
}

/// What opening one partition gave: the partition (maybe unavailable), or the resource
/// shortage that stops the whole open.
type Opened = Result<Arc<Partition>, OpenError>;

/// Opens `jobs` on `threads` threads; the partitions come back in job order. After a
/// resource shortage the threads stop taking jobs, and every partition opened so far
/// is closed again.
fn run_pool(jobs: &[Job], threads: usize) -> Result<Vec<Arc<Partition>>, BrokerError> {
    let slots: Vec<OnceLock<Opened>> = jobs.iter().map(|_| OnceLock::new()).collect();
    let next = AtomicUsize::new(0);
    let short = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                while !short.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    let opened = open_one(job).map(Arc::new);
                    short.fetch_or(opened.is_err(), Ordering::Relaxed);
                    let _ = slots[i].set(opened);
                }
            });
        }
    });
    let mut partitions = Vec::with_capacity(jobs.len());
    let mut failure = None;
    for (slot, job) in slots.into_iter().zip(jobs) {
        match slot.into_inner() {
            Some(Ok(partition)) => partitions.push(partition),
            Some(Err(source)) if failure.is_none() => {
                failure = Some(BrokerError::Open {
                    what: format!("partition {}", job.ident),
                    source: Box::new(source),
                });
            }
            // Not opened: the open stops at a resource shortage.
            Some(Err(_)) | None => {}
        }
    }
    match failure {
        Some(error) => {
            partitions.iter().for_each(|p| p.close());
            Err(error)
        }
        None => Ok(partitions),
    }
}

/// Opens one partition log, or makes the partition unavailable with the cause (a
/// panic in the open included, so one bad partition never stops the others). Running
/// out of file descriptors or maps is returned as an error instead.
fn open_one(job: &Job) -> Result<Partition, OpenError> {
    let opened =
        std::panic::catch_unwind(|| Log::open(&job.dir, job.ident.clone(), job.config.clone()));
    let error = match opened {
        Ok(Ok(log)) => return Ok(Partition::new(log)),
        Ok(Err(error @ OpenError::Exhausted { .. })) => return Err(error),
        Ok(Err(error)) => error.to_string(),
        Err(_) => "opening the log panicked".to_string(),
    };
    tracing::error!(
        partition = %job.ident, dir = %job.dir.display(), %error,
        "partition unavailable: its log could not be opened; the other partitions serve"
    );
    Ok(Partition::unavailable(job.ident.clone(), &job.dir, error))
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::topic_config::NewTopic;

    fn summary(name: &str, partitions: u32) -> TopicSummary {
        let request = NewTopic {
            name: name.into(),
            partitions: Some(partitions),
            ..NewTopic::default()
        };
        request.resolve(1 << 20).expect("valid topic").1
    }

    #[test]
    fn every_partition_lands_in_its_topic_in_order_and_a_bad_one_is_unavailable() {
        let data = tempfile::tempdir().unwrap();
        let found: Vec<(TopicSummary, PathBuf)> = [("a", 5), ("b", 1), ("c", 12)]
            .iter()
            .map(|(name, n)| (summary(name, *n), data.path().join(name)))
            .collect();
        // A file where partition c/7's directory should be: its log cannot open.
        std::fs::create_dir_all(data.path().join("c")).unwrap();
        std::fs::write(data.path().join("c/7"), b"not a directory").unwrap();
        let topics = open_topics(found, FsyncPolicy::Never, &OpenSegments::new(64)).unwrap();
        assert_eq!(topics.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
        for (name, topic) in &topics {
            assert_eq!(
                topic.partitions().len(),
                topic.summary().partitions as usize
            );
            for (i, p) in topic.partitions().iter().enumerate() {
                assert_eq!(p.ident(), &LogIdent::new(name.clone(), i as u32));
                let bad = name == "c" && i == 7;
                assert_eq!(p.unavailable_reason().is_some(), bad, "{name}/{i}");
                assert_eq!(p.bounds().is_ok(), !bad, "{name}/{i}");
            }
        }
        topics.values().for_each(|t| t.close());
    }

    #[test]
    fn the_pool_is_bounded_and_never_larger_than_the_work() {
        assert_eq!(pool_size(1), 1);
        assert_eq!(pool_size(0), 1);
        assert!(pool_size(10_000) <= MAX_THREADS);
        assert!(pool_size(10_000) >= 2);
    }
}
