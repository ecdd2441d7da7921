//! The server-wide budget on request bytes in memory: many large produce requests whose
//! sum exceeds it, sent at once on one connection, each either succeed or get
//! RESOURCE_EXHAUSTED (never hang), nothing of a refused request is stored, and once
//! retried one at a time every record reads back byte for byte. Clients that send a
//! message's prefix and stall hold its reservation only until the body timeout, and one
//! connection cannot reserve more than its share of the budget.

use crate::cleanup_support;
use crate::common;
use crate::h2_support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use cleanup_support::DEADLINE;
use common::{TestServer, create_topic, fetch_all, produce, record};
use eventlog::proto::v1 as pb;
use eventlog::service::{MAX_MESSAGE_BYTES, ServerConfig};
use h2_support::{H2Connection, prefix, status_of};
use tonic::Code;

const PRODUCE: &str = "/eventlog.v1.EventLog/Produce";
/// Bound on waiting for an answer the server owes: far above the timeouts under test.
const ANSWER_WITHIN: Duration = Duration::from_secs(20);
/// Pause between probes of the budget.
const PROBE_EVERY: Duration = Duration::from_millis(50);

/// Each request carries one 12 MiB value: under the 16 MiB batch limit, and with eight
/// in flight about 1.5 times the smallest budget (one 64 MiB message).
const VALUE_BYTES: usize = 12 << 20;
const REQUESTS: usize = 8;

fn value(i: usize) -> Bytes {
    let mut value = vec![b'a' + i as u8; VALUE_BYTES];
    value[..8].copy_from_slice(&(i as u64).to_be_bytes());
    Bytes::from(value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_budget_are_refused_or_served_never_stuck() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        // The smallest budget there is: one largest message.
        request_budget_bytes: 0,
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(dir.path(), config).await;
    let mut client = server.client().await;
    create_topic(&mut client, "big", 1).await;

    let send = |i: usize, mut client: eventlog::client::Client| async move {
        let record = pb::Record {
            value: Some(value(i)),
            ..Default::default()
        };
        let request = pb::ProduceRequest {
            topic: "big".into(),
            partition: Some(0),
            records: vec![record],
            expected_next_offset: None,
            ..Default::default()
        };
        client.event_log.produce(request).await
    };
    let sends: Vec<_> = (0..REQUESTS)
        .map(|i| tokio::spawn(send(i, client.clone())))
        .collect();
    let mut refused = Vec::new();
    for (i, sent) in sends.into_iter().enumerate() {
        match sent.await.expect("produce task") {
            Ok(_) => {}
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                assert!(status.message().contains("retry later"), "{status:?}");
                refused.push(i);
            }
        }
    }
    assert!(
        refused.len() < REQUESTS,
        "one message always fits the budget"
    );
    // Alone, each fits.
    for i in refused {
        send(i, client.clone()).await.expect("retried produce");
    }

    let records = fetch_all(&mut client, "big", 0, 0).await;
    assert_eq!(records.len(), REQUESTS);
    let mut seen: Vec<Bytes> = records
        .into_iter()
        .map(|r| r.value.expect("value"))
        .collect();
    seen.sort_by_key(|v| v[..8].to_vec());
    for (i, got) in seen.iter().enumerate() {
        assert!(got == &value(i), "record {i} came back different");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_releases_its_reservation_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        request_budget_bytes: 0,
        // Short, so the test waits little for it: a stalled call that times out before
        // any probe sees it holding the budget is started again below.
        request_body_timeout: Duration::from_secs(6),
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(dir.path(), config).await;
    let mut client = server.client().await;
    create_topic(&mut client, "t", 1).await;

    // A client announces a largest message, which reserves the whole budget, and stalls.
    // Probes (small produce requests) show when it holds the budget: one is refused.
    // The budget is exactly one largest message, so a probe the server reads first
    // holds a few bytes of it while it appends, and if the stalled prefix arrives
    // meanwhile that call is refused at once instead: which comes first is up to the
    // scheduler. Such a call is answered, and another one is started.
    let small = || pb::ProduceRequest {
        topic: "t".into(),
        partition: Some(0),
        records: vec![record(None, Some("small"))],
        expected_next_offset: None,
        ..Default::default()
    };
    let mut raw = H2Connection::connect(server.addr).await;
    let give_up = Instant::now() + DEADLINE;
    let (stalled_body, stalled_status) = 'held: loop {
        let stalled = raw.start(PRODUCE, prefix(MAX_MESSAGE_BYTES as u32)).await;
        let status = tokio::spawn(status_of(stalled.response));
        loop {
            assert!(
                Instant::now() < give_up,
                "a stalled call was never seen holding the budget"
            );
            match client.event_log.produce(small()).await {
                // Probes go one at a time and a call answered holds nothing: only
                // the stalled call can be holding the budget.
                Err(refused) if refused.code() == Code::ResourceExhausted => {
                    assert!(refused.message().contains("retry later"), "{refused:?}");
                    break 'held (stalled.body, status);
                }
                Ok(_) => {}
                Err(other) => panic!("a probe failed: {other:?}"),
            }
            if status.is_finished() {
                // Refused because a probe held part of the budget when its prefix
                // arrived, or overdue because no probe was answered within the timeout.
                let status = status.await.expect("status task");
                let code = status.code();
                assert!(
                    code == Code::ResourceExhausted || code == Code::DeadlineExceeded,
                    "{status:?}"
                );
                continue 'held;
            }
            tokio::time::sleep(PROBE_EVERY).await;
        }
    };

    // After the timeout the stalled call fails and its reservation is released, though
    // its connection stays open.
    let status = tokio::time::timeout(ANSWER_WITHIN, stalled_status)
        .await
        .expect("the stalled call is answered")
        .expect("status task");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(
        status.message().contains("--request-body-timeout"),
        "{status:?}"
    );
    client
        .event_log
        .produce(small())
        .await
        .expect("the budget is free again");
    drop(stalled_body);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_cannot_hold_more_than_its_share() {
    let dir = tempfile::tempdir().unwrap();
    // The default budget, 256 MiB: a connection may hold a quarter of it.
    let server = TestServer::start_with(dir.path(), ServerConfig::default()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "t", 1).await;

    // Two stalled 60 MiB messages on one connection: 120 MiB, within the budget but
    // beyond the connection's 64 MiB. One of them is refused.
    let mut raw = H2Connection::connect(server.addr).await;
    let first = raw.start(PRODUCE, prefix(60 << 20)).await;
    let second = raw.start(PRODUCE, prefix(60 << 20)).await;
    let refused = tokio::time::timeout(ANSWER_WITHIN, async {
        tokio::select! {
            status = status_of(first.response) => status,
            status = status_of(second.response) => status,
        }
    })
    .await
    .expect("one of the two calls is refused");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().contains("this connection"), "{refused:?}");
    assert!(refused.message().contains("retry later"), "{refused:?}");

    // Other connections still have the rest of the budget.
    let value = Bytes::from(vec![b'v'; 12 << 20]);
    let big = pb::Record {
        value: Some(value.clone()),
        ..record(None, None)
    };
    produce(&mut client, "t", Some(0), vec![big]).await;
    let records = fetch_all(&mut client, "t", 0, 0).await;
    assert_eq!(records[0].value.as_ref(), Some(&value));
    drop((first.body, second.body));
    server.stop().await;
}
