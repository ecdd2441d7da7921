//! Kill -9 under load: the real server (fsync `always`) takes concurrent producers on
//! several partitions and a consumer that commits its group offsets, and is SIGKILLed
//! at a random moment; after each restart on the same data directory:
//! - every acknowledged record is at its offset with identical key, value and headers;
//! - offsets run gap-free from the log start to the high watermark;
//! - every acknowledged commit survived (the committed offset is at least it);
//! - nothing unacknowledged is half-visible: every record present is one a producer
//!   attempted, byte for byte, and a request's records are all present or none.
//!
//! A compacted topic runs beside them (see `compacted`): there, offsets may be missing only
//! where a newer record of the same key is present.
//!
//! Rounds: 3 by default, `EVENTLOG_CRASH_ROUNDS` for more (`scripts/crash-test.sh`);
//! `EVENTLOG_CRASH_SEED` replays a run (the seed is printed).

#[path = "crash_kill9_load/compacted.rs"]
mod compacted;
mod crash_support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use crash_support::{Content, Rng, ServerProcess, content_of, read_partition, seed, to_wire};
use eventlog::client::Client;
use eventlog::proto::v1 as pb;

const TOPIC: &str = "load";
const PARTITIONS: u32 = 3;
const PRODUCERS: u64 = 4;
const GROUP: &str = "crash-consumer";

/// One produce request as attempted.
struct Attempt {
    partition: u32,
    records: Vec<Content>,
}

/// Everything the clients did and were told, across all rounds.
#[derive(Default)]
struct Ledger {
    /// Every request sent, by request id (acknowledged or not).
    attempted: HashMap<u64, Attempt>,
    /// Every acknowledged record by (partition, offset).
    acked: BTreeMap<(u32, u64), Content>,
    /// The largest acknowledged commit per partition.
    commits: BTreeMap<u32, u64>,
    /// Requests acknowledged in the current round.
    acked_this_round: u64,
    /// Errors seen before the server was killed (there must be none).
    early_errors: Vec<String>,
}

type Shared = Arc<Mutex<Ledger>>;

fn rounds() -> u64 {
    std::env::var("EVENTLOG_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3)
}

/// A tag at the start of every value names its request and place, so a record found
/// in the log can be matched to what was attempted.
fn tag(request: u64, index: usize, count: usize) -> String {
    format!("r{request}:{index}/{count}|")
}

fn parse_tag(value: &[u8]) -> Option<(u64, usize)> {
    let text = std::str::from_utf8(value.get(..value.iter().position(|b| *b == b'|')?)?).ok()?;
    let (request, place) = text.strip_prefix('r')?.split_once(':')?;
    let (index, _) = place.split_once('/')?;
    Some((request.parse().ok()?, index.parse().ok()?))
}

fn make_request(rng: &mut Rng, request: u64) -> Attempt {
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
async fn producer(
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
async fn consumer(url: String, ledger: Shared, killed: Arc<AtomicBool>) {
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

/// Checks every invariant against the restarted server; returns records present.
async fn verify(client: &mut Client, ledger: &Ledger, round: u64) -> u64 {
    let mut present = 0;
    let mut high_watermarks = BTreeMap::new();
    // Records seen per request id: (partition, offset, index).
    let mut seen: HashMap<u64, Vec<(u32, u64, usize)>> = HashMap::new();
    for partition in 0..PARTITIONS {
        let (log_start, high_watermark, records) = read_partition(client, TOPIC, partition).await;
        high_watermarks.insert(partition, high_watermark);
        assert_eq!(log_start, 0, "round {round}: nothing deletes records here");
        let offsets: Vec<u64> = records.iter().map(|r| r.offset).collect();
        let expected: Vec<u64> = (log_start..high_watermark).collect();
        assert!(
            offsets == expected,
            "round {round}: partition {partition} is not gap-free from {log_start} to {high_watermark}"
        );
        for record in &records {
            let content = content_of(record);
            let (request, index) =
                record
                    .value
                    .as_deref()
                    .and_then(parse_tag)
                    .unwrap_or_else(|| {
                        panic!("round {round}: {partition}@{} has no tag", record.offset)
                    });
            let attempt = ledger.attempted.get(&request).unwrap_or_else(|| {
                panic!(
                    "round {round}: {partition}@{} was never attempted",
                    record.offset
                )
            });
            assert_eq!(
                attempt.partition, partition,
                "round {round}: request {request} in the wrong partition"
            );
            assert!(
                attempt.records.get(index) == Some(&content),
                "round {round}: {partition}@{} differs from what was attempted",
                record.offset
            );
            seen.entry(request)
                .or_default()
                .push((partition, record.offset, index));
            present += 1;
        }
    }
    for (partition, offset) in ledger.acked.keys() {
        assert!(
            *offset < high_watermarks[partition],
            "round {round}: acknowledged {partition}@{offset} is beyond the high watermark"
        );
    }
    // Acknowledged content is at its offset: every present record matched its attempt, so
    // it is enough that the record at each acknowledged offset carries that attempt's tag.
    for (request, places) in &seen {
        let attempt = &ledger.attempted[request];
        assert_eq!(
            places.len(),
            attempt.records.len(),
            "round {round}: request {request} is half-visible: {places:?}"
        );
        for (i, (partition, offset, index)) in places.iter().enumerate() {
            assert_eq!(*index, i, "round {round}: request {request} out of order");
            assert_eq!(
                *offset,
                places[0].1 + i as u64,
                "round {round}: request {request} not contiguous"
            );
            if let Some(acked) = ledger.acked.get(&(*partition, *offset)) {
                assert_eq!(
                    acked, &attempt.records[i],
                    "round {round}: {partition}@{offset} holds other bytes than acknowledged"
                );
            }
        }
    }
    let present_at: HashSet<(u32, u64)> =
        seen.values().flatten().map(|(p, o, _)| (*p, *o)).collect();
    for (partition, offset) in ledger.acked.keys() {
        assert!(
            present_at.contains(&(*partition, *offset)),
            "round {round}: acknowledged {partition}@{offset} is missing"
        );
    }
    let committed = client
        .event_log
        .get_committed_offsets(pb::GetCommittedOffsetsRequest {
            group: GROUP.into(),
            topic: TOPIC.into(),
        })
        .await
        .expect("committed offsets after restart")
        .into_inner();
    for (partition, acked) in &ledger.commits {
        let now = committed
            .partitions
            .iter()
            .find(|c| c.partition == *partition)
            .and_then(|c| c.next_offset)
            .unwrap_or_else(|| panic!("round {round}: commit of partition {partition} lost"));
        assert!(
            now >= *acked,
            "round {round}: partition {partition} committed {now} < acknowledged {acked}"
        );
        assert!(
            now <= high_watermarks[partition],
            "round {round}: commit past the high watermark"
        );
    }
    present
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_data_and_commits_survive_kill_9_under_load() {
    let seed = seed();
    let mut rng = Rng::new(seed);
    let rounds = rounds();
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(dir.path(), "always").expect("first start");
    let mut client = Client::connect(&server.url).await.expect("connect");
    client
        .admin
        .create_topic(pb::CreateTopicRequest {
            name: TOPIC.into(),
            partitions: PARTITIONS,
            config: Some(pb::TopicConfig {
                segment_bytes: Some(1 << 20),
                ..Default::default()
            }),
        })
        .await
        .expect("create topic");
    client
        .admin
        .create_topic(compacted::create_request())
        .await
        .expect("create compacted topic");
    // Closed at once: an open connection would only hold up the final graceful stop.
    drop(client);
    let ledger: Shared = Arc::default();
    let ids = Arc::new(AtomicU64::new(0));
    let sends: compacted::SharedSends = Arc::default();
    for round in 1..=rounds {
        let killed = Arc::new(AtomicBool::new(false));
        ledger.lock().unwrap().acked_this_round = 0;
        sends.lock().unwrap().acked_this_round = 0;
        let mut tasks = vec![
            tokio::spawn(compacted::producer(
                server.url.clone(),
                Rng::new(rng.next_u64()),
                Arc::clone(&sends),
                Arc::clone(&killed),
            )),
            tokio::spawn(compacted::compactor(
                server.url.clone(),
                Arc::clone(&sends),
                Arc::clone(&killed),
            )),
        ];
        for _ in 0..PRODUCERS {
            tasks.push(tokio::spawn(producer(
                server.url.clone(),
                Rng::new(rng.next_u64()),
                Arc::clone(&ledger),
                Arc::clone(&ids),
                Arc::clone(&killed),
            )));
        }
        tasks.push(tokio::spawn(consumer(
            server.url.clone(),
            Arc::clone(&ledger),
            Arc::clone(&killed),
        )));
        // The kill moment: a random delay, and never before the load is flowing.
        let delay = Duration::from_millis(rng.below(200..1500));
        tokio::time::sleep(delay).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        // (At least one acknowledged request per producer and round is what lets the
        // compacted topic's check place every offset.)
        while ledger.lock().unwrap().acked_this_round == 0
            || sends.lock().unwrap().acked_this_round == 0
        {
            assert!(
                Instant::now() < deadline,
                "round {round}: no produce acknowledged"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        killed.store(true, Ordering::SeqCst);
        server.kill9();
        for task in tasks {
            task.await.expect("client task");
        }
        server = ServerProcess::start(dir.path(), "always")
            .unwrap_or_else(|failed| panic!("round {round}: restart failed:\n{}", failed.stderr));
        let mut client = Client::connect(&server.url)
            .await
            .expect("connect after restart");
        // Every client task has ended: the ledger is complete for this round.
        let taken = std::mem::take(&mut *ledger.lock().unwrap());
        assert!(
            taken.early_errors.is_empty(),
            "round {round}: {:?}",
            taken.early_errors
        );
        let present = verify(&mut client, &taken, round).await;
        let taken_sends = std::mem::take(&mut *sends.lock().unwrap());
        let (kept, removed) = compacted::verify(&mut client, &taken_sends, round).await;
        let damage: Vec<_> = server
            .logs()
            .into_iter()
            .filter(|l| l["level"] == "ERROR")
            .collect();
        assert!(
            damage.is_empty(),
            "round {round}: errors after restart: {damage:?}"
        );
        println!(
            "round {round}: killed after {delay:?}; {} requests attempted, {} records acknowledged, {present} present, commits {:?}; compacted topic: {kept} kept, {removed} removed by {} compactions",
            taken.attempted.len(),
            taken.acked.len(),
            taken.commits,
            taken_sends.compactions,
        );
        *ledger.lock().unwrap() = taken;
        *sends.lock().unwrap() = taken_sends;
    }
    tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
    println!("seed {seed}: {rounds} rounds passed");
}
