//! The topic directories under `<data_dir>/topics/`, and how they are created and
//! removed so that a crash at any point leaves either a whole topic or none.
//!
//! Work in progress lives in `topics/~staging/`, under short names of fixed length
//! (`create-<id>`, `delete-<id>`), so that every valid topic name (up to 249 bytes) fits
//! the file system's 255-byte name limit at every step; the topic's real name is in the
//! `topic.json` inside. `~` is not allowed in topic names, so the staging directory is
//! never mistaken for a topic.
//! - Create: build `~staging/create-<id>` completely (partition directories,
//!   `topic.json`), fsync, then rename it to `<topic>`; the rename is the commit point.
//! - Delete: rename `<topic>` to `~staging/delete-<id>` and fsync `topics/` (the commit
//!   point: the name is gone for good), then remove the tree, which may wait until the
//!   topic's partitions are closed.
//! - Start: everything in `~staging/` is a leftover of one of the above and is removed,
//!   as are the `<topic>~creating` and `<topic>~deleted-<nanos>` directories that older
//!   versions used for the same purpose.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::error::BrokerError;
use super::metadata::{self, create_dir_durably, sync_dir};
use super::topic_config::TopicSummary;
use super::topic_name::TopicName;
use crate::storage::fsutil;

/// Marks scratch directories; older versions put it in `<topic>~creating` and
/// `<topic>~deleted-<nanos>`, which start-up still removes.
const SCRATCH_MARK: char = '~';

/// The directory under `topics/` holding creations and deletions in progress.
const STAGING_DIR: &str = "~staging";

/// The `topics/` directory of a data directory.
#[derive(Debug)]
pub struct TopicDirs {
    root: PathBuf,
    staging: PathBuf,
    /// Makes staging names unique; seeded from the clock so that names of an earlier
    /// run (removed at start anyway) are not reused either.
    next_id: AtomicU64,
}

/// A topic directory whose deletion is committed: renamed into staging, to be removed
/// with [`TopicDirs::purge`] once nothing uses its files any more.
#[derive(Debug)]
#[must_use = "a retired topic directory stays on disk until it is purged"]
pub struct Retired(PathBuf);

impl TopicDirs {
    /// Creates `<data_dir>/topics` and its staging directory if needed.
    pub fn open(data_dir: &Path) -> Result<TopicDirs, BrokerError> {
        let root = data_dir.join("topics");
        create_dir_durably(&root)?;
        let staging = root.join(STAGING_DIR);
        create_dir_durably(&staging)?;
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Ok(TopicDirs {
            root,
            staging,
            next_id: AtomicU64::new(seed),
        })
    }

    /// The directory of `topic`.
    pub fn topic_dir(&self, topic: &TopicName) -> PathBuf {
        self.root.join(topic.as_str())
    }

    /// A fresh path in staging: `<kind>-<16 hex digits>`, 23 bytes whatever the topic.
    fn staging_path(&self, kind: &str) -> PathBuf {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.staging.join(format!("{kind}-{id:016x}"))
    }

    /// Removes leftovers of interrupted creations and deletions, then lists every topic
    /// with its stored summary and directory.
    pub fn scan(&self) -> Result<Vec<(TopicSummary, PathBuf)>, BrokerError> {
        self.clear_staging()?;
        let mut found = Vec::new();
        let entries = fs::read_dir(&self.root).map_err(BrokerError::io(&self.root))?;
        for entry in entries {
            let entry = entry.map_err(BrokerError::io(&self.root))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == STAGING_DIR {
                continue;
            }
            if name.contains(SCRATCH_MARK) {
                remove_leftover(&path)?;
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

    /// Removes everything in the staging directory (no creation or deletion runs yet).
    fn clear_staging(&self) -> Result<(), BrokerError> {
        let entries = fs::read_dir(&self.staging).map_err(BrokerError::io(&self.staging))?;
        for entry in entries {
            let entry = entry.map_err(BrokerError::io(&self.staging))?;
            remove_leftover(&entry.path())?;
        }
        Ok(())
    }

    /// Creates the directory tree of a new topic and commits it with one rename. The
    /// caller runs creations and deletions one at a time, so whatever is in staging is
    /// a leftover of an earlier failure (a removal that lacked a file descriptor, say)
    /// and is cleared first.
    pub fn create(&self, name: &TopicName, summary: &TopicSummary) -> Result<PathBuf, BrokerError> {
        let target = self.topic_dir(name);
        if target.exists() {
            return Err(BrokerError::TopicExists {
                topic: name.to_string(),
            });
        }
        if let Err(err) = self.clear_staging() {
            tracing::warn!(error = %err, "could not clear leftovers of earlier topic operations yet");
        }
        let staging = self.staging_path("create");
        let built = fs::create_dir(&staging)
            .map_err(BrokerError::io(&staging))
            .and_then(|()| Self::fill(&staging, summary))
            .and_then(|()| self.move_durably(&staging, &target));
        if let Err(err) = built {
            // Not committed: the staging directory would only be removed at the next start.
            let _ = fs::remove_dir_all(&staging);
            tracing::debug!(path = %staging.display(), error = %err, "building a topic directory failed");
            return Err(err.located_at(&target));
        }
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

    /// Commits a topic's deletion: its directory leaves `topics/` durably (renamed into
    /// staging). On error nothing changed and the topic is whole.
    pub fn retire(&self, name: &TopicName) -> Result<Retired, BrokerError> {
        let tombstone = self.staging_path("delete");
        self.move_durably(&self.topic_dir(name), &tombstone)?;
        Ok(Retired(tombstone))
    }

    /// Removes the files of a retired topic. A failure only leaves disk space in use
    /// until the next start, which removes the rest: the deletion is already committed.
    pub fn purge(&self, retired: Retired) {
        if let Err(err) = fs::remove_dir_all(&retired.0) {
            tracing::warn!(path = %retired.0.display(), error = %err, "could not remove deleted topic data yet");
        }
    }

    /// Removes a topic's directory: [`TopicDirs::retire`], then [`TopicDirs::purge`].
    pub fn remove(&self, name: &TopicName) -> Result<(), BrokerError> {
        let retired = self.retire(name)?;
        self.purge(retired);
        Ok(())
    }

    /// Renames `from` to `to` (one of them in `topics/`, the other in staging) and syncs
    /// both directories. If a sync fails the rename is undone, so that a reported
    /// failure leaves the tree as it was (as far as the file system lets us).
    fn move_durably(&self, from: &Path, to: &Path) -> Result<(), BrokerError> {
        fsutil::rename(from, to).map_err(BrokerError::io(from))?;
        let synced = sync_dir(&self.root).and_then(|()| sync_dir(&self.staging));
        if let Err(err) = synced {
            if let Err(undo) = fs::rename(to, from) {
                tracing::error!(from = %to.display(), to = %from.display(), error = %undo, "could not undo a rename whose sync failed");
            }
            return Err(err);
        }
        Ok(())
    }
}

/// Removes a leftover of an interrupted creation or deletion, naming its topic when its
/// `topic.json` still says.
fn remove_leftover(path: &Path) -> Result<(), BrokerError> {
    let topic = metadata::read(path).map(|s| s.name).unwrap_or_default();
    tracing::info!(path = %path.display(), %topic, "removing leftover of an interrupted topic create or delete");
    let removed = if path.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    removed.map_err(BrokerError::io(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::topic_config::TopicConfig;

    /// A two-partition topic with default settings and 1 MiB segments.
    pub(super) fn summary(name: &str) -> TopicSummary {
        TopicSummary {
            name: name.into(),
            partitions: 2,
            config: TopicConfig::for_tests(),
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

        // Leftovers of this version (in staging) and of older ones (beside the topics).
        let topics = data.path().join("topics");
        fs::create_dir(topics.join("~staging/delete-00000000000000ff")).unwrap();
        fs::create_dir(topics.join("~staging/create-0000000000000100")).unwrap();
        fs::create_dir(topics.join("gone~deleted-7")).unwrap();
        fs::create_dir(topics.join("half~creating")).unwrap();
        let scanned = dirs.scan().unwrap();
        assert_eq!(scanned.len(), 1);
        assert_eq!(scanned[0].0, summary("orders"));
        for leftover in ["gone~deleted-7", "half~creating"] {
            assert!(!topics.join(leftover).exists(), "{leftover} still there");
        }
        assert_eq!(fs::read_dir(topics.join("~staging")).unwrap().count(), 0);

        dirs.remove(&name).unwrap();
        assert!(dirs.scan().unwrap().is_empty());
        assert_eq!(fs::read_dir(topics.join("~staging")).unwrap().count(), 0);
    }

    #[test]
    fn the_longest_names_are_created_scanned_and_removed() {
        let data = tempfile::tempdir().unwrap();
        let dirs = TopicDirs::open(data.path()).unwrap();
        let long = "n".repeat(crate::broker::topic_name::MAX_TOPIC_NAME_LEN);
        let name = TopicName::parse(&long).unwrap();
        dirs.create(&name, &summary(&long)).unwrap();
        let scanned = dirs.scan().unwrap();
        assert_eq!(scanned[0].0.name, long);
        dirs.remove(&name).unwrap();
        assert!(dirs.scan().unwrap().is_empty());
        dirs.create(&name, &summary(&long)).unwrap();
    }

    #[test]
    fn a_failed_retire_leaves_the_topic_in_place() {
        use crate::storage::fault;
        use crate::storage::fsutil::WritePoint;
        let data = tempfile::tempdir().unwrap();
        let dirs = TopicDirs::open(data.path()).unwrap();
        let name = TopicName::parse("kept").unwrap();
        dirs.create(&name, &summary("kept")).unwrap();
        let topics = data.path().join("topics");
        fault::arm(&topics, WritePoint::Rename, "kept", fault::EDQUOT, 1);
        assert!(dirs.retire(&name).is_err());
        assert_eq!(dirs.scan().unwrap()[0].0, summary("kept"));
    }
}

#[cfg(test)]
#[path = "registry_power_loss.rs"]
mod power_loss_tests;
