//! Measures how long a consumer group takes to consume a dead member's partitions
//! again: three members share a 6-partition topic that a producer keeps writing to; one
//! member dies, and the time from its death until every partition it held has been
//! delivered to another member is measured. Two deaths: the member's connection drops
//! (a crash: it leaves at once) and the member hangs (no reads, no heartbeats: it is
//! removed when its session times out). Each run dies at another point of the
//! member's heartbeat cycle.
//!
//! usage: cargo run --example group_failover -- [RUNS] [SESSION_TIMEOUT_MS]
//! (defaults 5 runs of each death, the server's default session timeout of 10,000 ms).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eventlog::broker::BrokerConfig;
use eventlog::client::Client;
use eventlog::client::group_member::{GroupMember, MemberEvent, MemberOptions};
use eventlog::proto::v1 as pb;
use eventlog::service::{ServerConfig, serve};
use eventlog::storage::FsyncPolicy;
use tokio::net::TcpListener;
use tokio::sync::watch;

const TOPIC: &str = "work";
const GROUP: &str = "workers";

/// When each member last received records of each partition.
type Deliveries = Arc<Mutex<Vec<(usize, u32, Instant)>>>;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runs: usize = args.first().map_or(Ok(5), |a| a.parse())?;
    let session_ms: u64 = args.get(1).map_or(Ok(10_000), |a| a.parse())?;
    let dir = tempfile::tempdir()?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let config = ServerConfig {
        broker: BrokerConfig {
            data_dir: dir.path().to_path_buf(),
            fsync: FsyncPolicy::Never,
            ..BrokerConfig::default()
        },
        ..ServerConfig::default()
    };
    tokio::spawn(serve(config, listener, std::future::pending()));
    let mut admin = connect(&url).await;
    admin
        .admin
        .create_topic(pb::CreateTopicRequest {
            name: TOPIC.into(),
            partitions: 6,
            replication_factor: 0,
            config: None,
        })
        .await?;
    tokio::spawn(produce_forever(admin.clone()));
    let deliveries: Deliveries = Arc::default();
    let mut members = BTreeMap::new();
    let mut next_id = 0;
    let mut results: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    for run in 0..runs * 2 {
        while members.len() < 3 {
            let member = spawn(&url, next_id, session_ms, Arc::clone(&deliveries)).await;
            members.insert(next_id, member);
            next_id += 1;
        }
        let held = wait_settled(&mut admin, &members).await;
        // Die at a different point of the heartbeat cycle each run (a member heartbeats
        // every third of its session timeout).
        let phase = Duration::from_millis(session_ms / 3 * (run / 2) as u64 / runs as u64);
        tokio::time::sleep(phase).await;
        let (&victim, _) = members.iter().next().ok_or("no member")?;
        let partitions = held[&victim].clone();
        let member = members.remove(&victim).ok_or("no victim")?;
        let death = if run % 2 == 0 {
            "connection dropped"
        } else {
            "hung"
        };
        let died = Instant::now();
        match death {
            "hung" => {
                member.hang.send(true)?;
                // The hung member is kept (its stream open) until the run is measured.
                let taken = consumed_again(&deliveries, victim, &partitions, died).await;
                results.entry(death).or_default().push(taken);
                drop(member);
            }
            _ => {
                member.task.abort();
                let taken = consumed_again(&deliveries, victim, &partitions, died).await;
                results.entry(death).or_default().push(taken);
            }
        }
        eprintln!("run {run}: {death}: {:?}", results[death].last());
    }
    println!(
        "session timeout {session_ms} ms, {runs} runs each, partitions of the dead member consumed again after:"
    );
    for (death, mut times) in results {
        times.sort();
        println!(
            "  {death}: min {:.0} ms, median {:.0} ms, max {:.0} ms",
            ms(times[0]),
            ms(times[times.len() / 2]),
            ms(times[times.len() - 1])
        );
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn connect(url: &str) -> Client {
    for _ in 0..100 {
        if let Ok(client) = Client::connect(url).await {
            return client;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("cannot connect to {url}");
}

/// One record per partition every 5 ms.
async fn produce_forever(mut client: Client) {
    for i in 0u64.. {
        for partition in 0..6 {
            let request = pb::ProduceRequest {
                topic: TOPIC.into(),
                partition: Some(partition),
                records: vec![pb::Record {
                    value: Some(i.to_string().into_bytes().into()),
                    ..Default::default()
                }],
                ..Default::default()
            };
            let _ = client.event_log.produce(request).await;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

struct Running {
    member_id: String,
    hang: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// A member on its own connection that records each delivery and commits it.
async fn spawn(url: &str, id: usize, session_ms: u64, deliveries: Deliveries) -> Running {
    let client = connect(url).await;
    let options = MemberOptions {
        group: GROUP.into(),
        topics: vec![TOPIC.into()],
        session_timeout: Some(Duration::from_millis(session_ms)),
        reset: pb::StartPosition::Latest,
        ..MemberOptions::default()
    };
    let mut member = GroupMember::join(&client, options).await.expect("join");
    let (hang, mut hung) = watch::channel(false);
    let member_id = member.member_id().to_string();
    let task = tokio::spawn(async move {
        let _client = client;
        loop {
            let event = tokio::select! {
                event = member.next() => event,
                _ = hung.changed() => {
                    // Hang: keep the stream open, never read or heartbeat again.
                    std::future::pending::<()>().await;
                    return;
                }
            };
            match event {
                Ok(MemberEvent::Records { topic, records }) => {
                    let partition = records[0].partition;
                    deliveries
                        .lock()
                        .unwrap()
                        .push((id, partition, Instant::now()));
                    let next = records[records.len() - 1].offset + 1;
                    let _ = member.commit(&topic, &[(partition, next)]).await;
                }
                Ok(MemberEvent::Assignment { revoked, .. }) if !revoked.is_empty() => {
                    let _ = member.release(&revoked).await;
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    Running {
        member_id,
        hang,
        task,
    }
}

/// Waits until three members hold two partitions each; returns them by member.
async fn wait_settled(
    admin: &mut Client,
    members: &BTreeMap<usize, Running>,
) -> BTreeMap<usize, BTreeSet<u32>> {
    loop {
        let d = admin
            .admin
            .describe_group(pb::DescribeGroupRequest {
                group: GROUP.into(),
            })
            .await
            .expect("describe")
            .into_inner();
        let settled = d.members.len() == members.len()
            && d.members.iter().all(|m| m.revoking.is_empty())
            && d.members
                .iter()
                .all(|m| m.assigned.iter().map(|t| t.partitions.len()).sum::<usize>() == 2);
        if settled {
            return members
                .iter()
                .map(|(&id, running)| {
                    let described = d.members.iter().find(|m| m.member_id == running.member_id);
                    let partitions = described
                        .map(|m| {
                            m.assigned
                                .iter()
                                .flat_map(|t| t.partitions.clone())
                                .collect()
                        })
                        .unwrap_or_default();
                    (id, partitions)
                })
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Time from `died` until another member than `victim` received records of each of
/// `partitions`.
async fn consumed_again(
    deliveries: &Deliveries,
    victim: usize,
    partitions: &BTreeSet<u32>,
    died: Instant,
) -> Duration {
    loop {
        let firsts: BTreeMap<u32, Instant> = deliveries
            .lock()
            .unwrap()
            .iter()
            .filter(|(id, p, at)| *id != victim && partitions.contains(p) && *at > died)
            .fold(BTreeMap::new(), |mut m, (_, p, at)| {
                m.entry(*p).or_insert(*at);
                m
            });
        if firsts.len() == partitions.len() {
            return firsts.values().max().map_or(Duration::ZERO, |t| *t - died);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
