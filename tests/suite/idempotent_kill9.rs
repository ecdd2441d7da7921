//! kill -9 under load with idempotent producers retrying across the restart: every
//! record sent is stored exactly once, in order per producer and partition. The
//! producers reach the server through a proxy whose upstream moves to the restarted
//! server (it listens on a new port), as a load balancer in front of it would.

use crate::common;
use crate::proxy_support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{BinaryServer, connect, create_topic, fetch_all, record, value_text};
use eventlog::client::producer::{Producer, ProducerOptions, RetryPolicy};
use proxy_support::FaultyProxy;

const PARTITIONS: u32 = 3;
const PRODUCERS: usize = 3;
const BATCHES: usize = 120;
const BATCH: usize = 5;

fn socket_of(url: &str) -> std::net::SocketAddr {
    url.trim_start_matches("http://")
        .parse()
        .expect("server address")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_across_a_kill_9_store_every_record_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = BinaryServer::start_with(dir.path(), &["--fsync", "always"], "info");
    let mut direct = connect(&server.url).await;
    create_topic(&mut direct, "orders", PARTITIONS).await;
    let proxy = FaultyProxy::start(socket_of(&server.url), 0, 7).await;

    let acknowledged = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for producer in 0..PRODUCERS {
        let client = connect(&proxy.url()).await;
        let acknowledged = acknowledged.clone();
        tasks.push(tokio::spawn(async move {
            let options = ProducerOptions {
                retry: RetryPolicy {
                    attempts: 60,
                    first_backoff: Duration::from_millis(20),
                    max_backoff: Duration::from_millis(250),
                },
                ..ProducerOptions::default()
            };
            let mut sender = Producer::new(client, "orders", options).await.unwrap();
            for b in 0..BATCHES {
                let records = (0..BATCH)
                    .map(|i| {
                        let n = b * BATCH + i;
                        record(
                            Some(&format!("key-{}", n % 7)),
                            Some(&format!("{producer}:{n}")),
                        )
                    })
                    .collect();
                sender
                    .send(records)
                    .await
                    .expect("send, retried across the restart");
                acknowledged.fetch_add(BATCH, Ordering::Relaxed);
            }
        }));
    }
    // Kill the server once some records are in, while the producers keep sending.
    while acknowledged.load(Ordering::Relaxed) < PRODUCERS * BATCHES * BATCH / 4 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.child.kill().expect("kill -9");
    server.child.wait().expect("wait");
    drop(server);
    let server = BinaryServer::start_with(dir.path(), &["--fsync", "always"], "info");
    proxy.set_upstream(socket_of(&server.url));
    for task in tasks {
        task.await.unwrap();
    }

    let mut direct = connect(&server.url).await;
    let mut copies: BTreeMap<String, usize> = BTreeMap::new();
    for partition in 0..PARTITIONS {
        let mut last: BTreeMap<usize, usize> = BTreeMap::new();
        for stored in fetch_all(&mut direct, "orders", partition, 0).await {
            let value = value_text(&stored);
            let (producer, n) = value.split_once(':').unwrap();
            let (producer, n): (usize, usize) = (producer.parse().unwrap(), n.parse().unwrap());
            if let Some(previous) = last.insert(producer, n) {
                assert!(
                    n > previous,
                    "producer {producer} out of order in {partition}: {n} after {previous}"
                );
            }
            *copies.entry(value).or_default() += 1;
        }
    }
    let duplicated: Vec<_> = copies.iter().filter(|(_, c)| **c > 1).collect();
    assert!(duplicated.is_empty(), "stored twice: {duplicated:?}");
    assert_eq!(copies.len(), PRODUCERS * BATCHES * BATCH, "records lost");
    server.stop();
}
