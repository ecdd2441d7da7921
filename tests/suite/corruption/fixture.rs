//! The corruption suite's fixture: one data directory written through the real server
//! (several sealed segments per partition, one commit batch per produce), copied afresh
//! for each case to damage.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use bytes::Bytes;
use eventlog::client::Client;
use eventlog::proto::v1 as pb;

use crate::crash_support::{Content, ServerProcess, to_wire};

pub const TOPIC: &str = "orders";
pub const PARTITIONS: u32 = 2;
pub const GROUP: &str = "audit";
/// Produce requests per partition: about 3.6 MiB, so several 1 MiB segments seal.
pub const BATCHES: u64 = 60;

/// The undamaged directory and what was acknowledged into it.
pub struct Fixture {
    pub _dir: tempfile::TempDir,
    pub data: PathBuf,
    pub records: BTreeMap<(u32, u64), Content>,
    pub commits: BTreeMap<u32, u64>,
}

pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        // Built on its own runtime: every test has its own, and any may come first.
        std::thread::spawn(|| {
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(build_fixture())
        })
        .join()
        .expect("building the fixture")
    })
}

pub async fn build_fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = ServerProcess::start(&data, "always").expect("start");
    let mut client = Client::connect(&server.url).await.expect("connect");
    client
        .admin
        .create_topic(pb::CreateTopicRequest {
            name: TOPIC.into(),
            partitions: PARTITIONS,
            replication_factor: 0,
            config: Some(pb::TopicConfig {
                segment_bytes: Some(1 << 20),
                ..Default::default()
            }),
        })
        .await
        .expect("create topic");
    let mut records = BTreeMap::new();
    let mut commits = BTreeMap::new();
    for batch in 0..BATCHES {
        for partition in 0..PARTITIONS {
            let contents: Vec<Content> = (0..10u64)
                .map(|i| {
                    let n = batch * 10 + i;
                    let len = 3000 + (n * 611 % 6000) as usize;
                    let value: Vec<u8> = (0..len).map(|j| (j as u64 ^ n) as u8).collect();
                    let headers = if n % 3 == 0 {
                        vec![("n".to_string(), Bytes::from(n.to_string()))]
                    } else {
                        Vec::new()
                    };
                    (
                        Some(Bytes::from(format!("key-{}", n % 17))),
                        Some(Bytes::from(value)),
                        headers,
                    )
                })
                .collect();
            let reply = client
                .event_log
                .produce(pb::ProduceRequest {
                    topic: TOPIC.into(),
                    partition: Some(partition),
                    records: contents.iter().map(to_wire).collect(),
                    expected_next_offset: None,
                    ..Default::default()
                })
                .await
                .expect("produce")
                .into_inner();
            let base = reply.partitions[0].base_offset;
            for (i, content) in contents.into_iter().enumerate() {
                records.insert((partition, base + i as u64), content);
            }
            // One commit batch per produce: the offsets log gets many batches.
            let next = base + 10;
            client
                .commit_offsets(GROUP, TOPIC, &[(partition, next)])
                .await
                .expect("commit");
            commits.insert(partition, next);
        }
    }
    // Closed first: an open connection would hold up the server's graceful shutdown.
    drop(client);
    tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
    Fixture {
        _dir: dir,
        data,
        records,
        commits,
    }
}

/// A fresh copy of the fixture's data directory to damage.
pub fn damaged_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    copy_dir(&fixture().data, &data);
    (dir, data)
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

pub fn partition_dir(data: &Path, partition: u32) -> PathBuf {
    data.join("topics").join(TOPIC).join(partition.to_string())
}
