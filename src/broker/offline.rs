//! Compaction of a stopped server's data directory (`eventlog compact --data-dir`). It
//! takes the directory lock like the server does, so it refuses to run beside one, and
//! compacts with the same code as `CompactTopic`.

use std::path::Path;

use super::cleanup::{PartitionCompaction, compact_topic_blocking};
use super::error::BrokerError;
use super::registry::TopicDirs;
use super::topic::Topic;
use super::topic_config::{CleanupPolicy, TopicSummary};
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
        let outcome = compact_topic_blocking(&topic, dry_run, done);
        topic.close();
        outcome
    }
}
