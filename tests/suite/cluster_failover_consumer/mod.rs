//! The consumer side of the failover test: a subscription through every node that
//! resumes when its node dies, and commits of a consumer group as it goes.
//! Afterwards: it saw every acknowledged record once, in offset order per partition,
//! and the group's position in each partition is at least its last acknowledged commit.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use eventlog::client::Client;
use eventlog::client::subscriber::Subscriber;
use eventlog::proto::v1 as pb;
use eventlog::proto::v1::subscribe_request::Start;

/// The consumer group.
pub const GROUP: &str = "auditors";

/// What the consumer saw and had acknowledged.
#[derive(Default)]
pub struct Consumed {
    /// (partition, offset) → value, in the order delivered.
    pub records: BTreeMap<(u32, u64), Bytes>,
    /// Per partition: the highest next offset a commit of it was acknowledged with.
    pub committed: BTreeMap<u32, u64>,
}

/// Reads `topic` from the start until `stop`, committing every few messages; panics
/// (failing the test) on a record out of order or delivered twice.
pub async fn consume(
    client: Client,
    topic: &str,
    consumed: Arc<Mutex<Consumed>>,
    stop: Arc<AtomicBool>,
) {
    let request = pb::SubscribeRequest {
        topic: topic.into(),
        start: Some(Start::Position(pb::StartPosition::Earliest as i32)),
        ..Default::default()
    };
    let mut committer = client.clone();
    let mut subscriber = Subscriber::subscribe(client, request)
        .await
        .expect("subscribe");
    let mut last: BTreeMap<u32, u64> = BTreeMap::new();
    let mut messages = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let next = tokio::time::timeout(Duration::from_millis(500), subscriber.next()).await;
        let Ok(message) = next else { continue };
        let message = message.expect("the subscription failed for good");
        {
            let mut seen = consumed.lock().unwrap();
            for record in message.records {
                if let Some(previous) = last.get(&record.partition) {
                    assert!(
                        record.offset > *previous,
                        "partition {} delivered offset {} after {previous}",
                        record.partition,
                        record.offset
                    );
                }
                last.insert(record.partition, record.offset);
                let value = record.value.unwrap_or_default();
                let twice = seen
                    .records
                    .insert((record.partition, record.offset), value);
                assert!(twice.is_none(), "a record was delivered twice");
            }
        }
        messages += 1;
        if messages.is_multiple_of(5) {
            commit(&mut committer, topic, &last, &consumed).await;
        }
    }
}

/// Commits the positions after `last`; a commit refused while leaders change is
/// simply not counted as acknowledged.
async fn commit(
    client: &mut Client,
    topic: &str,
    last: &BTreeMap<u32, u64>,
    consumed: &Mutex<Consumed>,
) {
    let offsets: Vec<pb::OffsetCommit> = last
        .iter()
        .map(|(partition, offset)| pb::OffsetCommit {
            partition: *partition,
            next_offset: offset + 1,
            metadata: String::new(),
        })
        .collect();
    let request = pb::CommitOffsetsRequest {
        group: GROUP.into(),
        topic: topic.into(),
        offsets: offsets.clone(),
        ..Default::default()
    };
    if client.event_log.commit_offsets(request).await.is_ok() {
        let mut seen = consumed.lock().unwrap();
        for o in offsets {
            let at = seen.committed.entry(o.partition).or_default();
            *at = (*at).max(o.next_offset);
        }
    }
}

/// Waits until the consumer saw every one of `acknowledged`, then checks the records
/// and the group's positions (read through `reader`).
pub async fn check(
    consumed: &Mutex<Consumed>,
    acknowledged: &BTreeMap<(u32, u64), Bytes>,
    reader: &mut Client,
    topic: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let missing = missing(&consumed.lock().unwrap(), acknowledged);
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the consumer has not seen {} acknowledged records: {}",
            missing.len(),
            describe(&consumed.lock().unwrap(), &missing)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let committed = consumed.lock().unwrap().committed.clone();
    assert!(!committed.is_empty(), "no commit was acknowledged");
    let stored = group_positions(reader, topic).await;
    for (partition, acknowledged) in committed {
        let position = stored
            .partitions
            .iter()
            .find(|p| p.partition == partition)
            .and_then(|p| p.next_offset);
        assert!(
            position.is_some_and(|p| p >= acknowledged),
            "partition {partition}: the group is at {position:?}, below its acknowledged commit {acknowledged}"
        );
    }
}

/// The acknowledged records the consumer has not seen (with the same bytes).
fn missing(seen: &Consumed, acknowledged: &BTreeMap<(u32, u64), Bytes>) -> Vec<(u32, u64)> {
    acknowledged
        .iter()
        .filter(|(at, value)| seen.records.get(at) != Some(value))
        .map(|(at, _)| *at)
        .collect()
}

/// Per partition: how many are missing, from which offset to which, how many of them
/// were delivered with other bytes, and the last offset delivered.
fn describe(seen: &Consumed, missing: &[(u32, u64)]) -> String {
    let mut parts = Vec::new();
    let partitions: std::collections::BTreeSet<u32> = missing.iter().map(|(p, _)| *p).collect();
    for partition in partitions {
        let offsets: Vec<u64> = missing
            .iter()
            .filter(|(p, _)| *p == partition)
            .map(|(_, o)| *o)
            .collect();
        let different = offsets
            .iter()
            .filter(|o| seen.records.contains_key(&(partition, **o)))
            .count();
        let last = seen
            .records
            .keys()
            .filter(|(p, _)| *p == partition)
            .map(|(_, o)| *o)
            .max();
        parts.push(format!(
            "partition {partition}: {} missing in {}..={} ({different} delivered with other bytes), last delivered {last:?}",
            offsets.len(),
            offsets[0],
            offsets[offsets.len() - 1],
        ));
    }
    parts.join("; ")
}

/// The group's stored positions in `topic`, asked again while the cluster answers
/// UNAVAILABLE (its metadata group electing a leader after the faults), for up to 30 s.
async fn group_positions(reader: &mut Client, topic: &str) -> pb::GetCommittedOffsetsResponse {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let request = pb::GetCommittedOffsetsRequest {
            group: GROUP.into(),
            topic: topic.into(),
        };
        match reader.event_log.get_committed_offsets(request).await {
            Ok(response) => return response.into_inner(),
            Err(status)
                if status.code() == tonic::Code::Unavailable && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(status) => panic!("the group's positions: {status}"),
        }
    }
}
