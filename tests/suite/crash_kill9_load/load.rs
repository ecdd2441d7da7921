//! The load of the kill -9 test: producers sending tagged, keyed records of varied sizes
//! to the plain topic, and a consumer that fetches and commits, each recording in the
//! shared ledger what it attempted and what was acknowledged.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use eventlog::client::Client;
use eventlog::proto::v1 as pb;

use crate::crash_support::{Content, Rng, to_wire};

pub const TOPIC: &str = "load";
pub const PARTITIONS: u32 = 3;
pub const PRODUCERS: u64 = 4;
pub const GROUP: &str = "crash-consumer";

/// One produce request as attempted.
pub struct Attempt {
    pub partition: u32,
    pub records: Vec<Content>,
}

/// Everything the clients did and were told, across all rounds.
#[derive(Default)]
pub struct Ledger {
    /// Every request sent, by request id (acknowledged or not).
    pub attempted: HashMap<u64, Attempt>,
    /// Every acknowledged record by (partition, offset).
    pub acked: BTreeMap<(u32, u64), Content>,
    /// The largest acknowledged commit per partition.
    pub commits: BTreeMap<u32, u64>,
    /// Requests acknowledged in the current round.
    pub acked_this_round: u64,
    /// Errors seen before the server was killed (there must be none).
    pub early_errors: Vec<String>,
}

pub type Shared = Arc<Mutex<Ledger>>;

/// A tag at the start of every value names its request and place, so a record found
/// in the log can be matched to what was attempted.
pub fn tag(request: u64, index: usize, count: usize) -> String {
    format!("r{request}:{index}/{count}|")
}

pub fn parse_tag(value: &[u8]) -> Option<(u64, usize)> {
    let text = std::str::from_utf8(value.get(..value.iter().position(|b| *b == b'|')?)?).ok()?;
    let (request, place) = text.strip_prefix('r')?.split_once(':')?;
    let (index, _) = place.split_once('/')?;
    Some((request.parse().ok()?, index.parse().ok()?))
}

pub fn make_request(rng: &mut Rng, request: u64) -> Attempt {
    let partition = rng.below(0..u64::from(PARTITIONS)) as u32;
    let count = rng.below(1..6) as usize;
    let records = (0..count)
        .map(|index| {
            let key = Some(Bytes::from(format!("key-{}", rng.below(0..64))));
            let mut value = tag(request, index, count).into_bytes();
            // Sizes from empty-ish to several KiB, so segments roll within a round.
            let len = match rng.below(0..10) {
                0 => 0,
                1..=6 => rng.below(1..512),
                _ => rng.below(512..12_000),
            };
            value.extend((0..len).map(|_| rng.next_u64() as u8));
            let headers = if rng.below(0..3) == 0 {
                vec![(
                    "trace".to_string(),
                    Bytes::from(request.to_le_bytes().to_vec()),
                )]
            } else {
                Vec::new()
            };
            (key, Some(Bytes::from(value)), headers)
        })
        .collect();
    Attempt { partition, records }
}

/// Produces until the first error (the server was killed).
pub async fn producer(
    url: String,
    mut rng: Rng,
    ledger: Shared,
    ids: Arc<AtomicU64>,
    killed: Arc<AtomicBool>,
) {
    let Ok(mut client) = Client::connect(&url).await else {
        return;
    };
    loop {
        let request = ids.fetch_add(1, Ordering::Relaxed);
        let attempt = make_request(&mut rng, request);
        let wire = pb::ProduceRequest {
            topic: TOPIC.into(),
            partition: Some(attempt.partition),
            records: attempt.records.iter().map(to_wire).collect(),
            expected_next_offset: None,
            ..Default::default()
        };
        let (partition, records) = (attempt.partition, attempt.records.clone());
        ledger.lock().unwrap().attempted.insert(request, attempt);
        match client.event_log.produce(wire).await {
            Ok(reply) => {
                let reply = reply.into_inner();
                let mut ledger = ledger.lock().unwrap();
                let placed = &reply.partitions[0];
                assert_eq!(placed.partition, partition);
                assert_eq!(
                    placed.last_offset - placed.base_offset + 1,
                    records.len() as u64
                );
                for (i, content) in records.into_iter().enumerate() {
                    ledger
                        .acked
                        .insert((partition, placed.base_offset + i as u64), content);
                }
                ledger.acked_this_round += 1;
            }
            Err(status) => {
                if !killed.load(Ordering::SeqCst) {
                    ledger
                        .lock()
                        .unwrap()
                        .early_errors
                        .push(format!("produce: {status}"));
                }
                return;
            }
        }
    }
}

/// Reads every partition from its committed position and commits what it read, until
/// the first error (the server was killed).
pub async fn consumer(url: String, ledger: Shared, killed: Arc<AtomicBool>) {
    let Ok(mut client) = Client::connect(&url).await else {
        return;
    };
    let result: Result<(), tonic::Status> = async {
        let committed = client
            .event_log
            .get_committed_offsets(pb::GetCommittedOffsetsRequest {
                group: GROUP.into(),
                topic: TOPIC.into(),
            })
            .await?
            .into_inner();
        let mut positions: Vec<u64> = (0..PARTITIONS)
            .map(|p| {
                committed
                    .partitions
                    .iter()
                    .find(|c| c.partition == p)
                    .and_then(|c| c.next_offset)
                    .unwrap_or(0)
            })
            .collect();
        loop {
            for partition in 0..PARTITIONS {
                let reply = client
                    .event_log
                    .fetch(pb::FetchRequest {
                        topic: TOPIC.into(),
                        partition,
                        offset: positions[partition as usize],
                        max_records: 200,
                        max_bytes: 0,
                        max_wait_ms: 20,
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                positions[partition as usize] = reply.next_offset;
            }
            let offsets: Vec<(u32, u64)> = (0..PARTITIONS).zip(positions.iter().copied()).collect();
            client.commit_offsets(GROUP, TOPIC, &offsets).await?;
            let mut ledger = ledger.lock().unwrap();
            for (partition, next) in offsets {
                let best = ledger.commits.entry(partition).or_default();
                *best = (*best).max(next);
            }
        }
    }
    .await;
    if let Err(status) = result
        && !killed.load(Ordering::SeqCst)
    {
        ledger
            .lock()
            .unwrap()
            .early_errors
            .push(format!("consume: {status}"));
    }
}
