//! Helpers shared by the retention and compaction integration tests.
#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use eventlog::client::Client;
use eventlog::proto::v1 as pb;

/// Longest a test waits for background work to reach the state it expects. Generous:
/// the machine may be busy; tests poll, so a fast machine does not wait this long.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Polls `check` every 50 ms until it returns `Some`, or panics after [`DEADLINE`]
/// naming `what` and the last state seen.
pub async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    loop {
        match check().await {
            Ok(value) => return value,
            Err(state) if started.elapsed() > DEADLINE => {
                panic!("timed out waiting for {what}; last state: {state}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Creates a one-partition topic with `config` (1 MiB segments unless it says).
pub async fn create(client: &mut Client, name: &str, config: pb::TopicConfig) {
    let config = pb::TopicConfig {
        segment_bytes: config.segment_bytes.or(Some(1 << 20)),
        ..config
    };
    client
        .admin
        .create_topic(pb::CreateTopicRequest {
            name: name.to_string(),
            partitions: 1,
            replication_factor: 0,
            config: Some(config),
        })
        .await
        .expect("create topic");
}

/// Partition 0 of `topic` as described by the server.
pub async fn partition0(client: &mut Client, topic: &str) -> pb::PartitionDescription {
    client
        .admin
        .describe_topic(pb::DescribeTopicRequest {
            name: topic.to_string(),
        })
        .await
        .expect("describe")
        .into_inner()
        .partitions
        .remove(0)
}

/// A keyed record with a value of `len` bytes and an optional explicit timestamp.
pub fn sized(key: Option<&str>, value: Option<String>, timestamp_ms: Option<i64>) -> pb::Record {
    pb::Record {
        key: key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
        value: value.map(Bytes::from),
        headers: Vec::new(),
        timestamp_ms,
    }
}

/// Compacts `topic` now through the server.
pub async fn compact(
    client: &mut Client,
    topic: &str,
    dry_run: bool,
) -> Result<pb::CompactTopicResponse, tonic::Status> {
    client
        .admin
        .compact_topic(pb::CompactTopicRequest {
            name: topic.to_string(),
            dry_run,
        })
        .await
        .map(tonic::Response::into_inner)
}
