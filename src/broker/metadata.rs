//! `topic.json`: a topic's name, partition count and config, written atomically
//! (write a temporary file, fsync it, rename it over, fsync the directory) so a crash
//! leaves either the old or the new file, never a torn one.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::BrokerError;
use super::topic_config::TopicSummary;
use crate::storage::fsutil;

/// Name of the metadata file inside a topic directory.
pub const METADATA_FILE: &str = "topic.json";

/// Version of the `topic.json` layout; bumped on incompatible changes.
const FORMAT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct MetadataFile {
    format_version: u32,
    #[serde(flatten)]
    topic: TopicSummary,
}

/// Writes `topic` to `<dir>/topic.json` atomically.
pub fn write(dir: &Path, topic: &TopicSummary) -> Result<(), BrokerError> {
    let file = MetadataFile {
        format_version: FORMAT_VERSION,
        topic: topic.clone(),
    };
    let json = serde_json::to_vec_pretty(&file).map_err(|err| BrokerError::BadMetadata {
        path: dir.join(METADATA_FILE),
        reason: err.to_string(),
    })?;
    let tmp = dir.join(format!("{METADATA_FILE}.tmp"));
    let mut out = File::create(&tmp).map_err(BrokerError::io(&tmp))?;
    out.write_all(&json).map_err(BrokerError::io(&tmp))?;
    fsutil::sync_all(&out, &tmp).map_err(BrokerError::io(&tmp))?;
    let path = dir.join(METADATA_FILE);
    fs::rename(&tmp, &path).map_err(BrokerError::io(&path))?;
    sync_dir(dir)
}

/// Reads `<dir>/topic.json`.
pub fn read(dir: &Path) -> Result<TopicSummary, BrokerError> {
    let path = dir.join(METADATA_FILE);
    let bytes = fs::read(&path).map_err(BrokerError::io(&path))?;
    let bad = |reason: String| BrokerError::BadMetadata {
        path: path.clone(),
        reason,
    };
    let file: MetadataFile = serde_json::from_slice(&bytes).map_err(|err| bad(err.to_string()))?;
    if file.format_version != FORMAT_VERSION {
        return Err(bad(format!(
            "unknown format version {}",
            file.format_version
        )));
    }
    Ok(file.topic)
}

/// Makes the entries of `dir` (creations, renames, removals) durable.
pub fn sync_dir(dir: &Path) -> Result<(), BrokerError> {
    fsutil::sync_dir(dir).map_err(BrokerError::io(dir))
}

/// Creates `dir` and makes its entry in the parent durable.
pub fn create_dir_durably(dir: &Path) -> Result<(), BrokerError> {
    fs::create_dir_all(dir).map_err(BrokerError::io(dir))?;
    match dir.parent() {
        Some(parent) => sync_dir(parent),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::topic_config::{CleanupPolicy, TopicConfig};

    #[test]
    fn round_trips_and_rejects_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let topic = TopicSummary {
            name: "orders".into(),
            partitions: 3,
            config: TopicConfig {
                retention_ms: Some(1000),
                cleanup_policy: CleanupPolicy::Compact,
                message_timestamp_after_max_ms: Some(60_000),
                ..TopicConfig::for_tests()
            },
        };
        write(dir.path(), &topic).unwrap();
        assert_eq!(read(dir.path()).unwrap(), topic);
        fs::write(dir.path().join(METADATA_FILE), b"{\"format_version\": 1").unwrap();
        assert!(matches!(
            read(dir.path()),
            Err(BrokerError::BadMetadata { .. })
        ));
    }
}
