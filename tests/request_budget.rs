//! The server-wide budget on request bytes in memory: many large produce requests whose
//! sum exceeds it, sent at once on one connection, each either succeed or get
//! RESOURCE_EXHAUSTED (never hang), nothing of a refused request is stored, and once
//! retried one at a time every record reads back byte for byte.

mod common;

use bytes::Bytes;
use common::{TestServer, create_topic, fetch_all};
use eventlog::proto::v1 as pb;
use eventlog::service::ServerConfig;
use tonic::Code;

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
