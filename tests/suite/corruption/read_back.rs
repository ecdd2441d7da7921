//! Reading a damaged copy back through a server: Fetch stepping over DATA_LOSS with the
//! next-readable trailer, and the comparison with what was acknowledged.

use std::collections::BTreeMap;
use std::path::Path;

use eventlog::client::Client;
use eventlog::proto::v1 as pb;
use eventlog::service::status::NEXT_READABLE_METADATA;
use tonic::Code;

use super::fixture::{GROUP, PARTITIONS, TOPIC, fixture};
use crate::crash_support::{Content, ServerProcess, content_of};

/// What reading a partition from its start found: the records, and every DATA_LOSS met
/// on the way as (offset asked, next readable offset, message).
pub struct ReadBack {
    pub records: Vec<pb::StoredRecord>,
    pub skips: Vec<(u64, u64, String)>,
}

/// Reads a whole partition with Fetch, stepping over damage as a client would.
pub async fn read_back(client: &mut Client, partition: u32) -> ReadBack {
    let mut back = ReadBack {
        records: Vec::new(),
        skips: Vec::new(),
    };
    let mut offset = 0;
    loop {
        let reply = client
            .event_log
            .fetch(pb::FetchRequest {
                topic: TOPIC.into(),
                partition,
                offset,
                max_records: 0,
                max_bytes: 4 << 20,
                max_wait_ms: 0,
                ..Default::default()
            })
            .await;
        match reply {
            Ok(reply) => {
                let reply = reply.into_inner();
                back.records.extend(reply.records);
                if reply.next_offset >= reply.high_watermark {
                    return back;
                }
                offset = reply.next_offset;
            }
            Err(status) if status.code() == Code::DataLoss => {
                let next: u64 = status
                    .metadata()
                    .get(NEXT_READABLE_METADATA)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| {
                        panic!("DATA_LOSS without a next readable offset: {status:?}")
                    });
                assert!(next > offset, "{status:?}");
                back.skips
                    .push((offset, next, status.message().to_string()));
                offset = next;
            }
            Err(status) => panic!("fetch {partition}@{offset}: {status:?}"),
        }
    }
}

/// Checks that `back` holds every acknowledged record of `partition` except those in
/// `lost` (an offset range), byte for byte, and returns it for further checks.
pub fn assert_all_good_records(back: &ReadBack, partition: u32, lost: std::ops::Range<u64>) {
    let expected: Vec<(u64, &Content)> = fixture()
        .records
        .range((partition, 0)..(partition + 1, 0))
        .map(|((_, offset), content)| (*offset, content))
        .filter(|(offset, _)| !lost.contains(offset))
        .collect();
    let got: Vec<(u64, Content)> = back
        .records
        .iter()
        .map(|r| (r.offset, content_of(r)))
        .collect();
    assert_eq!(
        got.len(),
        expected.len(),
        "records read back (lost {lost:?})"
    );
    for ((offset, content), (want_offset, want)) in got.iter().zip(&expected) {
        assert_eq!(offset, want_offset, "offsets read back (lost {lost:?})");
        assert!(
            content == *want,
            "{partition}@{offset} differs from what was acknowledged"
        );
    }
}

/// What a server on a damaged copy showed.
pub struct Served {
    /// Every partition read back from its start.
    pub backs: Vec<ReadBack>,
    /// The group's committed next offsets by partition.
    pub committed: BTreeMap<u32, u64>,
    /// Log lines up to the end of the startup scrub, before any read.
    pub startup: Vec<serde_json::Value>,
    /// Every log line up to the stop.
    pub logs: Vec<serde_json::Value>,
}

/// Starts the server on a damaged copy (it must start), waits for its startup scrub of
/// sealed segments, reads everything back, and stops it.
pub async fn serve_and_read(data: &Path) -> Served {
    let server = ServerProcess::start(data, "always").unwrap_or_else(|failed| {
        panic!("server did not start on damaged data:\n{}", failed.stderr)
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let startup = loop {
        let logs = server.logs();
        if logs
            .iter()
            .any(|l| l["fields"]["message"] == "sealed segments scrubbed")
        {
            break logs;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no scrub summary: {logs:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let mut client = Client::connect(&server.url).await.expect("connect");
    let mut backs = Vec::new();
    for partition in 0..PARTITIONS {
        backs.push(read_back(&mut client, partition).await);
    }
    let committed = client
        .event_log
        .get_committed_offsets(pb::GetCommittedOffsetsRequest {
            group: GROUP.into(),
            topic: TOPIC.into(),
        })
        .await
        .expect("committed offsets")
        .into_inner()
        .partitions
        .iter()
        .filter_map(|p| Some((p.partition, p.next_offset?)))
        .collect();
    // Closed first: an open connection would hold up the server's graceful shutdown.
    drop(client);
    // Stopped off the runtime, which must stay free to close the dropped connection.
    let logs = tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
    Served {
        backs,
        committed,
        startup,
        logs,
    }
}
