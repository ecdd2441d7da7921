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
use crate::crash_support;
#[path = "crash_kill9_load/load.rs"]
mod load;
#[path = "crash_kill9_load/verify.rs"]
mod verify;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crash_support::{Rng, ServerProcess, seed};
use eventlog::client::Client;
use eventlog::proto::v1 as pb;
use load::{PARTITIONS, PRODUCERS, Shared, TOPIC, consumer, producer};
use verify::verify;

fn rounds() -> u64 {
    std::env::var("EVENTLOG_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3)
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
            replication_factor: 0,
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
