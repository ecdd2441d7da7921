//! Compaction of a stopped server's data directory (`eventlog compact --data-dir`). It
//! takes the directory lock like the server does, so it refuses to run beside one, and
//! compacts with the same code as `CompactTopic`.
//!
//! Before a topic is compacted, every sealed segment is read once with `pread`
//! ([`check_readable`]): the rewrite reads through memory maps, where a bad sector kills
//! the process with SIGBUS; read first, it is an error naming the file instead, and the
//! topic is left as it was. The cost is a second read of the sealed data, which an
//! offline run can afford.

use std::path::Path;

use super::cleanup::{PartitionCompaction, compact_topic_blocking};
use super::error::BrokerError;
use super::registry::TopicDirs;
use super::topic::Topic;
use super::topic_config::{CleanupPolicy, TopicSummary};
use crate::storage::scrub::{ScrubError, scrub_segment};
use crate::storage::{DirLock, FsyncPolicy, OpenSegments};

/// A data directory locked for offline work, with the topics it holds.
pub struct OfflineDir {
    topics: Vec<(TopicSummary, std::path::PathBuf)>,
    _lock: DirLock,
}

impl OfflineDir {
    /// Locks `data_dir` (failing if a server holds it) and lists its topics.
    pub fn open(data_dir: &Path) -> Result<OfflineDir, BrokerError> {
        // Checked before locking, which would create the directory: a mistyped path
        // must be an error, not a new empty data directory.
        let topics_dir = data_dir.join("topics");
        if !topics_dir.is_dir() {
            return Err(BrokerError::Io {
                path: topics_dir,
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "not an eventlog data directory (no topics/ in it)",
                ),
            });
        }
        let lock = DirLock::acquire(data_dir).map_err(|source| BrokerError::Open {
            what: format!("data directory {}", data_dir.display()),
            source: Box::new(source),
        })?;
        let topics = TopicDirs::open(data_dir)?.scan()?;
        Ok(OfflineDir {
            topics,
            _lock: lock,
        })
    }

    /// The topics to compact: those `named` (each must exist), or every COMPACT topic.
    pub fn select(&self, named: &[String]) -> Vec<(String, Option<&TopicSummary>)> {
        if named.is_empty() {
            return self
                .topics
                .iter()
                .filter(|(s, _)| s.config.cleanup_policy == CleanupPolicy::Compact)
                .map(|(s, _)| (s.name.clone(), Some(s)))
                .collect();
        }
        named
            .iter()
            .map(|name| {
                let found = self.topics.iter().find(|(s, _)| &s.name == name);
                (name.clone(), found.map(|(s, _)| s))
            })
            .collect()
    }

    /// Opens `name`, compacts (or estimates) each partition, closes it; `done` is called
    /// after each partition.
    pub fn compact(
        &self,
        name: &str,
        dry_run: bool,
        done: &mut dyn FnMut(&PartitionCompaction),
    ) -> Result<Vec<PartitionCompaction>, BrokerError> {
        let (summary, dir) = self
            .topics
            .iter()
            .find(|(s, _)| s.name == name)
            .ok_or_else(|| BrokerError::TopicNotFound {
                topic: name.to_string(),
            })?;
        // fsync `always`: nothing is appended, and compaction syncs what it writes.
        let topic = Topic::open(
            dir,
            summary.clone(),
            FsyncPolicy::Always,
            &OpenSegments::default(),
        )?;
        let outcome =
            check_readable(&topic).and_then(|()| compact_topic_blocking(&topic, dry_run, done));
        topic.close();
        outcome
    }
}

/// Reads every sealed segment of `topic` with `pread`; the first that cannot be read
/// (a disk read error) is returned as an error naming the file. Damaged batches are
/// not an error here: compaction reports and keeps them as it always does.
fn check_readable(topic: &Topic) -> Result<(), BrokerError> {
    for partition in topic.partitions() {
        for segment in partition.with_log(|log| log.sealed_segments())? {
            match scrub_segment(&segment) {
                Ok(_) => {}
                Err(ScrubError::Read(error)) => {
                    return Err(BrokerError::Io {
                        path: error.path,
                        source: error.source,
                    });
                }
                Err(ScrubError::Open { path, source }) => {
                    return Err(BrokerError::Io { path, source });
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "offline_read_fault_tests.rs"]
mod read_fault_tests;
