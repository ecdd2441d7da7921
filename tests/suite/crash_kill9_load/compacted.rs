//! The compacted topic of the kill -9 test: one sequential producer writes a few keys to
//! a COMPACT topic while compaction runs on demand, so records disappear under load.
//! After each restart every offset from 0 to the high watermark is either present with
//! the bytes that were sent, or gone because a newer record of its key is present (so
//! the newest value of each key always survives), and no request is half-visible.
//!
//! One producer sending one request at a time makes every offset known: an acknowledged
//! request says where it landed, and the request in flight at a kill, if it landed,
//! fills exactly the offsets up to the next acknowledged one (or the high watermark).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use eventlog::client::Client;
use eventlog::proto::v1 as pb;
use tonic::Code;

use crate::crash_support::{Content, Rng, content_of, read_partition, to_wire};

/// The compacted topic (one partition).
pub const TOPIC: &str = "compacted";

/// Every request the compacted producer sent, in order.
#[derive(Default)]
pub struct Sends {
    /// The records of each request and, once acknowledged, its base offset.
    pub list: Vec<(Vec<Content>, Option<u64>)>,
    /// Requests acknowledged in the current round.
    pub acked_this_round: u64,
    /// Errors seen before the server was killed (there must be none).
    pub early_errors: Vec<String>,
    /// Compactions that completed.
    pub compactions: u64,
}

/// Shared between the tasks of a round and the verification.
pub type SharedSends = Arc<Mutex<Sends>>;

/// The create request: COMPACT, small segments, compaction whenever asked.
pub fn create_request() -> pb::CreateTopicRequest {
    pb::CreateTopicRequest {
        name: TOPIC.into(),
        partitions: 1,
        replication_factor: 0,
        config: Some(pb::TopicConfig {
            segment_bytes: Some(1 << 20),
            cleanup_policy: pb::CleanupPolicy::Compact.into(),
            min_cleanable_dirty_ratio: Some(0.01),
            ..Default::default()
        }),
    }
}

/// Produces one request at a time until the first error (the server was killed).
pub async fn producer(url: String, mut rng: Rng, sends: SharedSends, killed: Arc<AtomicBool>) {
    let Ok(mut client) = Client::connect(&url).await else {
        return;
    };
    loop {
        let count = rng.below(1..4) as usize;
        let records: Vec<Content> = (0..count)
            .map(|_| {
                let key = Bytes::from(format!("ck-{}", rng.below(0..8)));
                let len = rng.below(1..16_000) as usize;
                let value: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
                (Some(key), Some(Bytes::from(value)), Vec::new())
            })
            .collect();
        let request = pb::ProduceRequest {
            topic: TOPIC.into(),
            partition: Some(0),
            records: records.iter().map(to_wire).collect(),
            expected_next_offset: None,
            ..Default::default()
        };
        let index = {
            let mut sends = sends.lock().unwrap();
            sends.list.push((records, None));
            sends.list.len() - 1
        };
        match client.event_log.produce(request).await {
            Ok(reply) => {
                let mut sends = sends.lock().unwrap();
                sends.list[index].1 = Some(reply.into_inner().partitions[0].base_offset);
                sends.acked_this_round += 1;
            }
            Err(status) => {
                if !killed.load(Ordering::SeqCst) {
                    sends
                        .lock()
                        .unwrap()
                        .early_errors
                        .push(format!("produce compacted: {status}"));
                }
                return;
            }
        }
    }
}

/// Asks for a compaction every few hundred milliseconds until the server is killed.
pub async fn compactor(url: String, sends: SharedSends, killed: Arc<AtomicBool>) {
    let Ok(mut client) = Client::connect(&url).await else {
        return;
    };
    while !killed.load(Ordering::SeqCst) {
        let request = pb::CompactTopicRequest {
            name: TOPIC.into(),
            dry_run: false,
        };
        match client.admin.compact_topic(request).await {
            Ok(_) => sends.lock().unwrap().compactions += 1,
            // Another compaction (the background one) changed the segments meanwhile.
            Err(status) if status.code() == Code::FailedPrecondition => {}
            Err(status) => {
                if !killed.load(Ordering::SeqCst) {
                    sends
                        .lock()
                        .unwrap()
                        .early_errors
                        .push(format!("compact: {status}"));
                }
                return;
            }
        }
        // Pacing, not synchronisation: compaction keeps happening while records arrive.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn place<'a>(records: &'a [Content], from: u64, at: &mut BTreeMap<u64, &'a Content>) {
    for (i, content) in records.iter().enumerate() {
        at.insert(from + i as u64, content);
    }
}

/// Where every landed record is, from the send order (see the module docs).
fn landed(sends: &Sends, high_watermark: u64, round: u64) -> BTreeMap<u64, &Content> {
    let mut at = BTreeMap::new();
    let mut cursor = 0;
    let mut pending: Option<&Vec<Content>> = None;
    for (records, base) in &sends.list {
        let Some(base) = *base else {
            assert!(
                pending.is_none(),
                "round {round}: two requests in flight at once"
            );
            pending = Some(records);
            continue;
        };
        // The gap before an acknowledged request is the request in flight at the last
        // kill, wholly (it landed) or not at all (it did not); never a part of it.
        let gap = base - cursor;
        if let Some(unacked) = pending.take()
            && gap == unacked.len() as u64
        {
            place(unacked, cursor, &mut at);
        } else {
            assert_eq!(
                gap, 0,
                "round {round}: unexplained offsets {cursor}..{base}"
            );
        }
        place(records, base, &mut at);
        cursor = base + records.len() as u64;
    }
    let tail = high_watermark - cursor;
    match pending {
        Some(unacked) if tail == unacked.len() as u64 => place(unacked, cursor, &mut at),
        _ => assert_eq!(
            tail, 0,
            "round {round}: unexplained offsets {cursor}..{high_watermark}"
        ),
    }
    at
}

/// Checks the compacted topic after a restart; returns (records present, removed).
pub async fn verify(client: &mut Client, sends: &Sends, round: u64) -> (usize, usize) {
    assert!(
        sends.early_errors.is_empty(),
        "round {round}: {:?}",
        sends.early_errors
    );
    let (_, high_watermark, records) = read_partition(client, TOPIC, 0).await;
    let expected = landed(sends, high_watermark, round);
    let present: BTreeMap<u64, Content> =
        records.iter().map(|r| (r.offset, content_of(r))).collect();
    assert_eq!(
        present.len(),
        records.len(),
        "round {round}: an offset twice"
    );
    // The newest present offset of each key.
    let mut newest: BTreeMap<&Option<Bytes>, u64> = BTreeMap::new();
    for (offset, content) in &present {
        newest.insert(&content.0, *offset);
    }
    let mut removed = 0;
    for (offset, content) in &expected {
        match present.get(offset) {
            Some(found) => assert!(
                found == *content,
                "round {round}: compacted@{offset} holds other bytes than were sent"
            ),
            None => {
                removed += 1;
                assert!(
                    newest.get(&content.0).is_some_and(|n| n > offset),
                    "round {round}: compacted@{offset} is gone without a newer record of its key"
                );
            }
        }
    }
    assert!(
        present.keys().all(|o| expected.contains_key(o)),
        "round {round}: a record nobody sent"
    );
    (present.len(), removed)
}
