//! A three-node cluster of the real binary on loopback, under load from four
//! idempotent producers that reach it through every node, while the leader of a
//! partition is killed with SIGKILL three times (and restarted each time); the long
//! `chaos` run also pauses leaders and cuts nodes off the network. Afterwards:
//! every acknowledged record is stored exactly once, at the offset its
//! acknowledgement named, with the same bytes at the same offsets on every replica; a
//! consumer reading through every node saw each of them once, in order, and its
//! group's acknowledged commits survived.

use crate::cluster_acked;
use crate::cluster_failover_consumer;
use crate::cluster_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cluster_acked::{Acknowledged, Target, check_replicas, produce};
use cluster_support::TestCluster;

const TOPIC: &str = "orders";
const PARTITIONS: u32 = 3;
const PRODUCERS: usize = 4;
/// Each producer sends at least this many batches, and goes on until the faults end.
const TARGET: Target = Target {
    topic: TOPIC,
    partitions: PARTITIONS,
    min_batches: 20,
};

/// A fault injected in one round.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// SIGKILL the leader of a partition, restart it after a while.
    KillLeader(u32),
    /// SIGKILL any node, restart it after a while.
    KillNode(u64),
    /// SIGSTOP the leader of a partition for longer than the election timeout, then
    /// SIGCONT: it must not acknowledge anything after it was deposed.
    PauseLeader(u32),
    /// Cut a node off from both others for longer than the election timeout, then
    /// heal: its side must acknowledge nothing meanwhile, the other side goes on.
    Partition(u64),
    /// SIGKILL a follower of a partition, empty its data directory, and start it
    /// again: it rejoins as a learner and must lose nothing anyone acknowledged.
    WipeFollower(u32),
}

async fn inject(cluster: &mut TestCluster, round: usize, fault: Fault) {
    match fault {
        Fault::KillLeader(partition) => {
            let leader = cluster.leader_of(TOPIC, partition).await;
            eprintln!("round {round}: kill -9 node {leader}, leader of partition {partition}");
            cluster.kill(leader);
            tokio::time::sleep(Duration::from_millis(1500)).await;
            cluster.restart(leader);
        }
        Fault::KillNode(node) => {
            eprintln!("round {round}: kill -9 node {node}");
            cluster.kill(node);
            tokio::time::sleep(Duration::from_millis(1500)).await;
            cluster.restart(node);
        }
        Fault::PauseLeader(partition) => {
            let leader = cluster.leader_of(TOPIC, partition).await;
            eprintln!("round {round}: SIGSTOP node {leader}, leader of partition {partition}");
            cluster.signal(leader, "STOP");
            tokio::time::sleep(Duration::from_millis(2000)).await;
            cluster.signal(leader, "CONT");
        }
        Fault::Partition(node) => {
            eprintln!("round {round}: cut node {node} off from the others");
            cluster.isolate(node);
            tokio::time::sleep(Duration::from_millis(2000)).await;
            cluster.heal();
        }
        Fault::WipeFollower(partition) => {
            let leader = cluster.leader_of(TOPIC, partition).await;
            let node = leader % 3 + 1;
            eprintln!("round {round}: wipe node {node}, a follower of partition {partition}");
            let log = cluster.nodes[(node - 1) as usize].dir.with_extension("log");
            let rejoined = || {
                std::fs::read_to_string(&log)
                    .unwrap_or_default()
                    .matches("rejoined the cluster")
                    .count()
            };
            let before = rejoined();
            cluster.wipe(node);
            cluster.restart(node);
            // Its groups take it back once it caught up; the next fault waits for that,
            // as an operator would before touching another node.
            let deadline = Instant::now() + Duration::from_secs(90);
            while rejoined() == before {
                assert!(
                    Instant::now() < deadline,
                    "node {node} did not rejoin in 90 s"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Runs the producers through `faults`, then checks every replica.
async fn run_with_faults(faults: &[Fault]) {
    // Proxies between the nodes only where a partition needs them: the short test's
    // nodes talk directly, as before.
    let mut cluster = match faults.iter().any(|f| matches!(f, Fault::Partition(_))) {
        true => TestCluster::start_partitionable(3),
        false => TestCluster::start(3),
    };
    cluster.create_topic(2, TOPIC, PARTITIONS, 3).await;

    let acknowledged: Acknowledged = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let consumed = Arc::new(Mutex::new(cluster_failover_consumer::Consumed::default()));
    let stop_consumer = Arc::new(AtomicBool::new(false));
    let consumer = tokio::spawn(cluster_failover_consumer::consume(
        cluster.client().await,
        TOPIC,
        Arc::clone(&consumed),
        Arc::clone(&stop_consumer),
    ));
    let mut producers = Vec::new();
    for producer in 0..PRODUCERS {
        let client = cluster.client().await;
        let task = produce(
            client,
            TARGET,
            producer,
            Arc::clone(&acknowledged),
            Arc::clone(&stop),
        );
        producers.push(tokio::spawn(task));
    }
    for (round, fault) in faults.iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(700)).await;
        inject(&mut cluster, round, *fault).await;
    }
    stop.store(true, Ordering::Relaxed);
    for producer in producers {
        producer.await.expect("a producer failed");
    }
    check_replicas(&cluster, TARGET, PRODUCERS, &acknowledged).await;
    let acknowledged = acknowledged.lock().unwrap().clone();
    let mut reader = cluster.client().await;
    cluster_failover_consumer::check(&consumed, &acknowledged, &mut reader, TOPIC).await;
    stop_consumer.store(true, Ordering::Relaxed);
    consumer.await.expect("the consumer failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_records_survive_three_leader_kills_exactly_once_on_every_replica() {
    let faults: Vec<Fault> = (0..3).map(|p| Fault::KillLeader(p % PARTITIONS)).collect();
    run_with_faults(&faults).await;
}

/// Random faults (kill -9 of a leader or any node, a paused leader, a wiped follower,
/// a node cut off from the others by a network partition) for
/// `EVENTLOG_CHAOS_ROUNDS` rounds (default 50), drawn from `EVENTLOG_CHAOS_SEED`
/// (default: the time, printed so a run can be replayed). Long: run it with
/// `scripts/cluster-chaos.sh`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "long; run with scripts/cluster-chaos.sh"]
async fn chaos() {
    let rounds: usize = std::env::var("EVENTLOG_CHAOS_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(50);
    let seed: u64 = std::env::var("EVENTLOG_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("chaos: {rounds} rounds, EVENTLOG_CHAOS_SEED={seed}");
    let mut state = seed | 1;
    let mut next = move || {
        // xorshift64: small, and the same sequence for the same seed everywhere.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let faults: Vec<Fault> = (0..rounds)
        .map(|_| match next() % 5 {
            0 => Fault::KillLeader((next() % u64::from(PARTITIONS)) as u32),
            1 => Fault::KillNode(next() % 3 + 1),
            2 => Fault::PauseLeader((next() % u64::from(PARTITIONS)) as u32),
            3 => Fault::WipeFollower((next() % u64::from(PARTITIONS)) as u32),
            _ => Fault::Partition(next() % 3 + 1),
        })
        .collect();
    run_with_faults(&faults).await;
}
