//! The client library's resuming `Subscriber`, waited on the way applications do: under
//! short timeouts. A proxy between it and the server cuts every connection at a chosen
//! moment, so the subscription must open its streams again, while each call of `next`
//! is dropped after 1 to 50 ms, often halfway through that resume. Every partition
//! must still deliver every record once, in order.

use crate::common;
use crate::proxy_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{TestServer, connect, create_topic, produce, record};
use eventlog::client::subscriber::Subscriber;
use eventlog::proto::v1 as pb;
use eventlog::proto::v1::subscribe_request::Start;
use proxy_support::FaultyProxy;

const TOPIC: &str = "resumed";
const PARTITIONS: u32 = 3;
const ROUNDS: usize = 5;

/// Calls `next` under ever-changing short timeouts until `done` holds of `seen`.
async fn read_until(
    subscriber: &mut Subscriber,
    seen: &mut BTreeMap<u32, Vec<String>>,
    done: impl Fn(&BTreeMap<u32, Vec<String>>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    for call in 0u64.. {
        if done(seen) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the subscription stopped delivering: {seen:?}"
        );
        let limit = Duration::from_millis(call % 50 + 1);
        let Ok(message) = tokio::time::timeout(limit, subscriber.next()).await else {
            continue;
        };
        let message = message.expect("the subscription failed for good");
        for r in message.records {
            let value = String::from_utf8(r.value.unwrap_or_default().to_vec()).unwrap();
            seen.entry(r.partition).or_default().push(value);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_waited_on_under_short_timeouts_resumes_every_partition() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut direct = server.client().await;
    create_topic(&mut direct, TOPIC, PARTITIONS).await;
    let proxy = FaultyProxy::start(server.addr, 0, 3).await;
    let request = pb::SubscribeRequest {
        topic: TOPIC.into(),
        start: Some(Start::Position(pb::StartPosition::Earliest as i32)),
        ..Default::default()
    };
    let mut subscriber = Subscriber::subscribe(connect(&proxy.url()).await, request)
        .await
        .expect("subscribe");
    let mut seen = BTreeMap::new();
    for round in 0..ROUNDS {
        // The records of this round are the next chunk the server sends through the
        // proxy, which drops it and closes both sockets.
        proxy.set_drop_percent(100);
        let cuts = proxy.dropped();
        for partition in 0..PARTITIONS {
            let value = format!("r{round}-p{partition}");
            produce(
                &mut direct,
                TOPIC,
                Some(partition),
                vec![record(None, Some(&value))],
            )
            .await;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while proxy.dropped() == cuts {
            assert!(Instant::now() < deadline, "the proxy cut nothing");
            // The subscription's connection carries the records only while it is read.
            let _ = tokio::time::timeout(Duration::from_millis(5), subscriber.next()).await;
        }
        proxy.set_drop_percent(0);
        let rounds = round + 1;
        read_until(&mut subscriber, &mut seen, |seen| {
            (0..PARTITIONS).all(|p| seen.get(&p).is_some_and(|v| v.len() >= rounds))
        })
        .await;
    }
    for partition in 0..PARTITIONS {
        let expected: Vec<String> = (0..ROUNDS).map(|r| format!("r{r}-p{partition}")).collect();
        assert_eq!(seen[&partition], expected, "partition {partition}");
    }
    drop(proxy);
    server.stop().await;
}
