//! The topic directories under `<data_dir>/topics/`, and how they are created and
//! removed so that a crash at any point leaves either a whole topic or none.
//!
//! - Create: build `<topic>~creating` completely (partition directories, `topic.json`),
//!   fsync, then rename it to `<topic>`; the rename is the commit point.
//! - Delete: rename `<topic>` to `<topic>~deleted-<nanos>` (the commit point), fsync the
//!   parent, then remove the tree.
//! - Start: directories whose name contains `~` are leftovers of one of the above and are
//!   removed; topic names cannot contain `~`, so no topic is ever mistaken for one.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::error::BrokerError;
use super::metadata::{self, create_dir_durably, sync_dir};
use super::topic_config::TopicSummary;
use super::topic_name::TopicName;

/// Marks a scratch directory (creation in progress or deletion pending).
const SCRATCH_MARK: char = '~';

/// The `topics/` directory of a data directory.
#[derive(Debug, Clone)]
pub struct TopicDirs {
    root: PathBuf,
}

impl TopicDirs {
    /// Creates `<data_dir>/topics` if needed.
    pub fn open(data_dir: &Path) -> Result<TopicDirs, BrokerError> {
        let root = data_dir.join("topics");
        create_dir_durably(&root)?;
        Ok(TopicDirs { root })
    }

    /// The directory of `topic`.
    pub fn topic_dir(&self, topic: &TopicName) -> PathBuf {
        self.root.join(topic.as_str())
    }

    /// Removes leftovers of interrupted creations and deletions, then lists every topic
    /// with its stored summary and directory.
    pub fn scan(&self) -> Result<Vec<(TopicSummary, PathBuf)>, BrokerError> {
        let mut found = Vec::new();
        let entries = fs::read_dir(&self.root).map_err(BrokerError::io(&self.root))?;
        for entry in entries {
            let entry = entry.map_err(BrokerError::io(&self.root))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.contains(SCRATCH_MARK) {
                tracing::info!(path = %path.display(), "removing leftover of an interrupted topic create or delete");
                fs::remove_dir_all(&path).map_err(BrokerError::io(&path))?;
                continue;
            }
            if TopicName::parse(&name).is_err() || !path.is_dir() {
                tracing::warn!(path = %path.display(), "ignoring unexpected entry in the topics directory");
                continue;
            }
            let summary = metadata::read(&path)?;
            if summary.name != name {
                return Err(BrokerError::BadMetadata {
                    path: path.join(metadata::METADATA_FILE),
                    reason: format!(
                        "names topic {:?} but lives in directory {name:?}",
                        summary.name
                    ),
                });
            }
            found.push((summary, path));
        }
        found.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        Ok(found)
    }

    /// Creates the directory tree of a new topic and commits it with one rename.
    pub fn create(&self, name: &TopicName, summary: &TopicSummary) -> Result<PathBuf, BrokerError> {
        let target = self.topic_dir(name);
        if target.exists() {
            return Err(BrokerError::TopicExists {
                topic: name.to_string(),
            });
        }
        let staging = self.root.join(format!("{name}{SCRATCH_MARK}creating"));
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(BrokerError::io(&staging))?;
        }
        fs::create_dir(&staging).map_err(BrokerError::io(&staging))?;
        let built = Self::fill(&staging, summary)
            .and_then(|()| fs::rename(&staging, &target).map_err(BrokerError::io(&target)));
        if let Err(err) = built {
            // Not committed: the staging directory would only be removed at the next start.
            let _ = fs::remove_dir_all(&staging);
            return Err(err);
        }
        sync_dir(&self.root)?;
        Ok(target)
    }

    /// The partition directories and `topic.json` of a topic being created.
    fn fill(staging: &Path, summary: &TopicSummary) -> Result<(), BrokerError> {
        for partition in 0..summary.partitions {
            let dir = staging.join(partition.to_string());
            fs::create_dir(&dir).map_err(BrokerError::io(&dir))?;
        }
        metadata::write(staging, summary)
    }

    /// Removes a topic's directory: rename away (commit point), then delete the tree.
    pub fn remove(&self, name: &TopicName) -> Result<(), BrokerError> {
        let dir = self.topic_dir(name);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let tombstone = self
            .root
            .join(format!("{name}{SCRATCH_MARK}deleted-{nanos}"));
        fs::rename(&dir, &tombstone).map_err(BrokerError::io(&dir))?;
        sync_dir(&self.root)?;
        // If this fails the topic is already gone; the next start removes the rest.
        if let Err(err) = fs::remove_dir_all(&tombstone) {
            tracing::warn!(path = %tombstone.display(), error = %err, "could not remove deleted topic data yet");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::topic_config::{CleanupPolicy, TopicConfig};

    /// A two-partition topic with default settings and 1 MiB segments.
    pub(super) fn summary(name: &str) -> TopicSummary {
        TopicSummary {
            name: name.into(),
            partitions: 2,
            config: TopicConfig {
                retention_ms: None,
                retention_bytes: None,
                segment_bytes: 1 << 20,
                cleanup_policy: CleanupPolicy::Delete,
                delete_retention_ms: None,
                min_cleanable_dirty_ratio: None,
                segment_ms: None,
            },
        }
    }

    #[test]
    fn create_scan_remove_and_leftover_cleanup() {
        let data = tempfile::tempdir().unwrap();
        let dirs = TopicDirs::open(data.path()).unwrap();
        let name = TopicName::parse("orders").unwrap();
        let dir = dirs.create(&name, &summary("orders")).unwrap();
        assert!(dir.join("1").is_dir());
        assert!(matches!(
            dirs.create(&name, &summary("orders")),
            Err(BrokerError::TopicExists { .. })
        ));

        fs::create_dir(data.path().join("topics/gone~deleted-7")).unwrap();
        fs::create_dir(data.path().join("topics/half~creating")).unwrap();
        let scanned = dirs.scan().unwrap();
        assert_eq!(scanned.len(), 1);
        assert_eq!(scanned[0].0, summary("orders"));
        assert!(!data.path().join("topics/gone~deleted-7").exists());
        assert!(!data.path().join("topics/half~creating").exists());

        dirs.remove(&name).unwrap();
        assert!(dirs.scan().unwrap().is_empty());
    }
}

#[cfg(test)]
#[path = "registry_power_loss.rs"]
mod power_loss_tests;
