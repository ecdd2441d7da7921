//! The content of a data directory as plain, comparable data, shared by the generator
//! of the v1 fixture (`examples/make_v1_fixture.rs`) and the test that reads it back
//! (`tests/suite/upgrade_from_v1.rs`): the generator writes it as `expected.json`, the test
//! reads the directory through the broker and compares. Bytes are hex so the JSON stays
//! exact for any value (empty, binary, not UTF-8).
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use eventlog::broker::{Broker, FetchRequest};
use eventlog::storage::{Header, ReadLimits, Record, StoredRecord};
use serde::{Deserialize, Serialize};

/// Everything a reader can see in the directory: records and group offsets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    /// What wrote the directory (informational; not compared by the test).
    pub written_by: String,
    /// Every topic, in name order.
    pub topics: Vec<TopicContent>,
    /// Every committed group offset, by group, topic and partition.
    pub groups: Vec<GroupOffset>,
}

/// One topic's partitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicContent {
    /// Topic name.
    pub name: String,
    /// Every partition, in partition order.
    pub partitions: Vec<PartitionContent>,
}

/// One partition's bounds and every readable record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionContent {
    /// Partition number.
    pub partition: u32,
    /// First readable offset.
    pub log_start: u64,
    /// Next offset to be written.
    pub high_watermark: u64,
    /// Every record from the log start to the high watermark, in offset order.
    pub records: Vec<RecordContent>,
}

/// One stored record, bytes as lowercase hex; `None` key or value is JSON null.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordContent {
    /// The record's offset.
    pub offset: u64,
    /// Producer timestamp, ms since the epoch.
    pub timestamp_ms: i64,
    /// Key, hex.
    pub key: Option<String>,
    /// Value, hex; `None` is a tombstone.
    pub value: Option<String>,
    /// Headers in order: (name, hex value).
    pub headers: Vec<(String, String)>,
}

/// One committed position of a consumer group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupOffset {
    /// Group name.
    pub group: String,
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: u32,
    /// Next offset the group reads.
    pub next_offset: u64,
    /// Metadata given with the commit.
    pub metadata: String,
    /// When the commit was stored (as stored, so it reads back exactly).
    pub commit_time_ms: i64,
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of lowercase hex `text`; panics on anything else (the fixture is ours).
pub fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd hex length: {text}");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digit"))
        .collect()
}

impl RecordContent {
    /// The comparable form of a record read back.
    pub fn of(record: &StoredRecord) -> RecordContent {
        RecordContent {
            offset: record.offset,
            timestamp_ms: record.timestamp_ms,
            key: record.key.as_deref().map(hex),
            value: record.value.as_deref().map(hex),
            headers: record
                .headers
                .iter()
                .map(|h| (h.key.clone(), hex(&h.value)))
                .collect(),
        }
    }

    /// The record to append that stores this content again (at a new offset).
    pub fn to_record(&self) -> Record {
        Record {
            key: self.key.as_deref().map(|k| Bytes::from(unhex(k))),
            value: self.value.as_deref().map(|v| Bytes::from(unhex(v))),
            headers: self
                .headers
                .iter()
                .map(|(key, value)| Header {
                    key: key.clone(),
                    value: Bytes::from(unhex(value)),
                })
                .collect(),
            timestamp_ms: self.timestamp_ms,
        }
    }
}

/// Reads `expected.json`.
pub fn load(path: &Path) -> Content {
    let text = std::fs::read_to_string(path).expect("read expected.json");
    serde_json::from_str(&text).expect("parse expected.json")
}

/// Reads every record of one partition, from its log start to its high watermark, in
/// small fetches so reads cross segment boundaries inside one fetch and between fetches.
pub async fn read_partition(broker: &Broker, topic: &str, partition: u32) -> PartitionContent {
    let offsets = broker
        .list_offsets(topic, Some(partition), None)
        .await
        .expect("list offsets");
    let (log_start, high_watermark) = (offsets[0].earliest, offsets[0].latest);
    let mut records = Vec::new();
    let mut next = log_start;
    while next < high_watermark {
        let outcome = broker
            .fetch(FetchRequest {
                topic: topic.to_string(),
                partition,
                offset: next,
                limits: ReadLimits {
                    max_records: 17,
                    max_bytes: 64 << 10,
                },
                max_wait: Duration::ZERO,
            })
            .await
            .expect("fetch");
        assert_eq!(
            outcome.high_watermark, high_watermark,
            "{topic}/{partition}"
        );
        assert_eq!(outcome.log_start_offset, log_start, "{topic}/{partition}");
        assert!(
            outcome.next_offset > next,
            "{topic}/{partition}: no progress at {next}"
        );
        records.extend(outcome.records.iter().map(RecordContent::of));
        next = outcome.next_offset;
    }
    PartitionContent {
        partition,
        log_start,
        high_watermark,
        records,
    }
}

/// Every topic's content, in name order.
pub async fn read_topics(broker: &Broker) -> Vec<TopicContent> {
    let mut summaries = broker.list_topics().expect("list topics");
    summaries.sort_by(|a, b| a.name.cmp(&b.name));
    let mut topics = Vec::new();
    for summary in summaries {
        let mut partitions = Vec::new();
        for partition in 0..summary.partitions {
            partitions.push(read_partition(broker, &summary.name, partition).await);
        }
        topics.push(TopicContent {
            name: summary.name,
            partitions,
        });
    }
    topics
}

/// Every committed offset of every group, by group, topic and partition.
pub async fn read_groups(broker: &Broker) -> Vec<GroupOffset> {
    let mut offsets = Vec::new();
    for summary in broker.list_groups().expect("list groups") {
        for lag in broker
            .describe_group(&summary.group)
            .await
            .expect("describe group")
        {
            let committed = lag.committed.expect("a described group has commits");
            offsets.push(GroupOffset {
                group: summary.group.clone(),
                topic: lag.topic,
                partition: lag.partition,
                next_offset: committed.next_offset,
                metadata: committed.metadata,
                commit_time_ms: committed.commit_time_ms,
            });
        }
    }
    offsets
        .sort_by(|a, b| (&a.group, &a.topic, a.partition).cmp(&(&b.group, &b.topic, b.partition)));
    offsets
}

/// Recursively copies a directory tree (files and directories only; the fixture has
/// nothing else), so tests never open the committed copy in place.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create copy dir");
    for entry in std::fs::read_dir(from).expect("read fixture dir") {
        let entry = entry.expect("fixture dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy fixture file");
        }
    }
}
