//! Idempotent producers through a proxy that loses replies: every record lands exactly
//! once and in order, while the same run without idempotence appends duplicates (which
//! shows the check can fail). Also: a producer that gave up on a request, or whose send
//! was dropped by its caller while the request was out, does not reuse its sequence
//! numbers for other records, and a named producer fences its older instance.

use crate::common;
use crate::proxy_support;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{TestServer, connect, create_topic, fetch_all, record, value_text};
use eventlog::broker::partitioner::partition_for_key;
use eventlog::client::producer::{Producer, ProducerOptions, RetryPolicy};
use eventlog::service::status::PRODUCER_EPOCH_METADATA;
use proxy_support::FaultyProxy;

const PARTITIONS: u32 = 3;
const PRODUCERS: usize = 4;
const RECORDS_PER_PRODUCER: usize = 300;
const BATCH: usize = 10;
/// Percent of the server's reply chunks the proxy drops.
const DROP_PERCENT: u64 = 15;

/// What one run wrote, per (producer, counter): how often and where.
struct Outcome {
    /// Partition of every stored copy of each (producer, counter).
    copies: BTreeMap<(usize, usize), Vec<u32>>,
    /// Per partition, the (producer, counter) pairs in offset order.
    order: Vec<Vec<(usize, usize)>>,
    /// Replies the producers got with `duplicate` set.
    duplicate_replies: usize,
    /// Replies the proxy dropped.
    dropped: u64,
}

/// Four producers, each on its own connection through a lossy proxy, send
/// `RECORDS_PER_PRODUCER` keyed records each; then every partition is read directly.
async fn run(idempotent: bool, topic: &str, seed: u64) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut direct = server.client().await;
    create_topic(&mut direct, topic, PARTITIONS).await;
    let proxy = FaultyProxy::start(server.addr, DROP_PERCENT, seed).await;

    let mut tasks = Vec::new();
    for producer in 0..PRODUCERS {
        let client = connect(&proxy.url()).await;
        let topic = topic.to_string();
        tasks.push(tokio::spawn(async move {
            let options = ProducerOptions {
                idempotent,
                name: None,
                retry: RetryPolicy {
                    attempts: 30,
                    first_backoff: Duration::from_millis(5),
                    max_backoff: Duration::from_millis(100),
                },
                ..Default::default()
            };
            let mut sender = Producer::new(client, &topic, options)
                .await
                .expect("start producer");
            let mut duplicates = 0;
            for first in (0..RECORDS_PER_PRODUCER).step_by(BATCH) {
                let records = (first..first + BATCH)
                    .map(|n| {
                        let key = format!("key-{n}");
                        record(Some(&key), Some(&format!("{producer}:{n}")))
                    })
                    .collect();
                let appends = sender.send(records).await.expect("send with retries");
                duplicates += appends.iter().filter(|a| a.duplicate).count();
            }
            duplicates
        }));
    }
    let mut duplicate_replies = 0;
    for task in tasks {
        duplicate_replies += task.await.expect("producer task");
    }

    let mut copies: BTreeMap<(usize, usize), Vec<u32>> = BTreeMap::new();
    let mut order = Vec::new();
    for partition in 0..PARTITIONS {
        let mut in_partition = Vec::new();
        for stored in fetch_all(&mut direct, topic, partition, 0).await {
            let key = stored.key.clone().expect("every record has a key");
            assert_eq!(
                partition_for_key(&key, PARTITIONS),
                partition,
                "the client placed a record where the server would not"
            );
            let value = value_text(&stored);
            let (producer, n) = value.split_once(':').expect("producer:counter");
            let id = (producer.parse().unwrap(), n.parse().unwrap());
            copies.entry(id).or_default().push(partition);
            in_partition.push(id);
        }
        order.push(in_partition);
    }
    let dropped = proxy.dropped();
    drop(proxy);
    server.stop().await;
    Outcome {
        copies,
        order,
        duplicate_replies,
        dropped,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_producers_write_each_record_once_despite_lost_replies() {
    let outcome = run(true, "exactly-once", 0x5eed_0001).await;
    assert!(outcome.dropped > 0, "the proxy dropped no reply");
    assert!(
        outcome.duplicate_replies > 0,
        "no retry reached the server after its first attempt was appended ({} replies dropped)",
        outcome.dropped
    );
    assert_eq!(outcome.copies.len(), PRODUCERS * RECORDS_PER_PRODUCER);
    for (id, copies) in &outcome.copies {
        assert_eq!(
            copies.len(),
            1,
            "record {id:?} stored {} times",
            copies.len()
        );
    }
    // Per partition, each producer's records in the order it sent them.
    for (partition, ids) in outcome.order.iter().enumerate() {
        let mut last: BTreeMap<usize, usize> = BTreeMap::new();
        for &(producer, n) in ids {
            if let Some(&before) = last.get(&producer) {
                assert!(
                    n > before,
                    "partition {partition}: producer {producer} wrote {n} after {before}"
                );
            }
            last.insert(producer, n);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_idempotence_the_same_faults_append_duplicates() {
    let outcome = run(false, "at-least-once", 0x5eed_0001).await;
    assert!(outcome.dropped > 0, "the proxy dropped no reply");
    assert_eq!(
        outcome.copies.len(),
        PRODUCERS * RECORDS_PER_PRODUCER,
        "retries lost a record"
    );
    let duplicated = outcome.copies.values().filter(|c| c.len() > 1).count();
    assert!(
        duplicated > 0,
        "no record was stored twice although {} replies were dropped",
        outcome.dropped
    );
    assert_eq!(
        outcome.duplicate_replies, 0,
        "plain requests are never deduplicated"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_instance_of_a_named_producer_fences_the_older() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "fenced", 1).await;
    let named = || ProducerOptions {
        name: Some("orders-writer".to_string()),
        ..ProducerOptions::default()
    };
    let mut older = Producer::new(client.clone(), "fenced", named())
        .await
        .unwrap();
    older
        .send_to(0, vec![record(None, Some("before"))])
        .await
        .expect("the only instance writes");
    let mut newer = Producer::new(client.clone(), "fenced", named())
        .await
        .unwrap();
    let (old_id, new_id) = (older.identity().unwrap(), newer.identity().unwrap());
    assert_eq!(old_id.id, new_id.id, "a name keeps its producer id");
    assert!(new_id.epoch > old_id.epoch);

    let refused = older
        .send_to(0, vec![record(None, Some("stale"))])
        .await
        .expect_err("the older instance is fenced");
    assert_eq!(
        refused.code(),
        tonic::Code::FailedPrecondition,
        "{refused:?}"
    );
    let epoch = refused
        .metadata()
        .get(PRODUCER_EPOCH_METADATA)
        .expect("the epoch trailer")
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(epoch, new_id.epoch.to_string());

    newer
        .send_to(0, vec![record(None, Some("after"))])
        .await
        .expect("the newer instance writes");
    let stored: Vec<String> = fetch_all(&mut client, "fenced", 0, 0)
        .await
        .iter()
        .map(value_text)
        .collect();
    assert_eq!(stored, ["before", "after"]);
    server.stop().await;
}

/// A one-partition topic, a proxy in front of its server (losing nothing yet), and a
/// producer through the proxy retrying `attempts` times, 5 ms apart.
struct BehindProxy {
    _dir: tempfile::TempDir,
    server: TestServer,
    direct: eventlog::client::Client,
    proxy: FaultyProxy,
    sender: Producer,
}

async fn behind_proxy(topic: &str, attempts: u32, seed: u64) -> BehindProxy {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut direct = server.client().await;
    create_topic(&mut direct, topic, 1).await;
    let proxy = FaultyProxy::start(server.addr, 0, seed).await;
    let options = ProducerOptions {
        retry: RetryPolicy {
            attempts,
            first_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(5),
        },
        ..ProducerOptions::default()
    };
    let client = connect(&proxy.url()).await;
    let sender = Producer::new(client, topic, options).await.unwrap();
    BehindProxy {
        _dir: dir,
        server,
        direct,
        proxy,
        sender,
    }
}

impl BehindProxy {
    /// After a batch "lost-reply" whose reply never came: the next batch must not
    /// reuse its sequence, or the server would answer it as that batch's duplicate and
    /// store nothing; the topic ends holding both.
    async fn next_batch_is_stored(&mut self, topic: &str) {
        self.proxy.set_drop_percent(0);
        let append = self
            .sender
            .send_to(0, vec![record(None, Some("next"))])
            .await
            .expect("the connection works again");
        assert!(
            !append.duplicate,
            "the second batch was taken for the first"
        );
        let stored: Vec<String> = fetch_all(&mut self.direct, topic, 0, 0)
            .await
            .iter()
            .map(value_text)
            .collect();
        assert_eq!(stored, ["lost-reply", "next"]);
    }

    async fn stop(self) {
        drop(self.proxy);
        self.server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_sent_after_a_request_was_given_up_are_not_taken_for_duplicates() {
    let mut run = behind_proxy("given-up", 3, 7).await;
    let first_identity = run.sender.identity().unwrap();
    // Every reply is lost: the first batch is appended, but the producer cannot know.
    run.proxy.set_drop_percent(100);
    run.sender
        .send_to(0, vec![record(None, Some("lost-reply"))])
        .await
        .expect_err("no reply arrives");
    run.next_batch_is_stored("given-up").await;
    assert_ne!(run.sender.identity().unwrap(), first_identity);
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_sent_after_a_dropped_send_are_not_taken_for_duplicates() {
    // Patient enough that only the caller's own deadline ends the send.
    let mut run = behind_proxy("dropped-send", 100_000, 11).await;
    // Every reply is lost while the producer retries; the caller stops waiting.
    run.proxy.set_drop_percent(100);
    let send = run
        .sender
        .send_to(0, vec![record(None, Some("lost-reply"))]);
    tokio::time::timeout(Duration::from_millis(500), send)
        .await
        .expect_err("no reply arrives before the caller's deadline");
    run.next_batch_is_stored("dropped-send").await;
    run.stop().await;
}
