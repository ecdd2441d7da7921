//! Power loss around topic creation and deletion (see `storage/power_loss.rs`): a topic
//! whose creation returned survives a cut with its metadata and acknowledged records;
//! a deleted topic stays deleted. Both have names of the greatest allowed length, which
//! the staging directory must not push past the file system's name limit.

use std::path::Path;

use super::TopicDirs;
use super::tests::summary;
use crate::broker::topic::Topic;
use crate::broker::topic_name::TopicName;
use crate::storage::open_segments::OpenSegments;
use crate::storage::power_loss::{self, Mode};
use crate::storage::{FsyncPolicy, ReadLimits, Record};

fn cut(root: &Path) -> tempfile::TempDir {
    let after = tempfile::tempdir().unwrap();
    power_loss::power_loss(root, Mode::Pessimistic, after.path());
    after
}

#[test]
fn created_topics_and_their_records_survive_and_deleted_ones_stay_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    std::fs::create_dir(&root).unwrap();
    let _registration = power_loss::register(&root);
    let dirs = TopicDirs::open(&root).unwrap();
    let (kept_name, gone_name) = ("k".repeat(249), "g".repeat(249));
    let kept = TopicName::parse(&kept_name).unwrap();
    let gone = TopicName::parse(&gone_name).unwrap();
    dirs.create(&gone, &summary(&gone_name)).unwrap();
    dirs.remove(&gone).unwrap();
    // Nothing syncs the topics directory after this creation: it must do so itself.
    let dir = dirs.create(&kept, &summary(&kept_name)).unwrap();
    let topic = Topic::open(
        &dir,
        summary(&kept_name),
        FsyncPolicy::Always,
        &OpenSegments::default(),
    )
    .unwrap();
    for (partition, value) in [(0, "zero"), (1, "one")] {
        let record = Record {
            value: Some(value.to_string().into()),
            ..Record::default()
        };
        topic
            .partition(partition)
            .unwrap()
            .append(&[record], None)
            .unwrap();
    }
    let after = cut(&root);
    topic.close();

    let dirs = TopicDirs::open(after.path()).unwrap();
    let scanned = dirs.scan().unwrap();
    assert_eq!(scanned.len(), 1, "only the kept topic: {scanned:?}");
    assert_eq!(scanned[0].0, summary(&kept_name));
    let topic = Topic::open(
        &scanned[0].1,
        summary(&kept_name),
        FsyncPolicy::Always,
        &OpenSegments::default(),
    )
    .unwrap();
    for (partition, value) in [(0, "zero"), (1, "one")] {
        let read = topic
            .partition(partition)
            .unwrap()
            .read(0, ReadLimits::default())
            .unwrap();
        assert_eq!(read.records.len(), 1);
        assert_eq!(read.records[0].value.as_deref(), Some(value.as_bytes()));
    }
}
