//! A slow subscriber (sleeping between messages) while a producer writes 100k records
//! receives every record in order exactly once, and the server's memory stays bounded:
//! HTTP/2 flow control, not a server-side buffer, absorbs the difference in speed.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::{BinaryServer, anon_rss_kib, connect, create_topic, produce};
use eventlog::proto::v1 as pb;
use eventlog::proto::v1::subscribe_request::Start;

const RECORDS: u64 = 100_000;
const BATCH: u64 = 1000;
/// 1 KiB values: 100k records are ~100 MiB, far more than the memory budget below, so
/// a server that buffered for the slow reader would be caught.
const VALUE_BYTES: usize = 1024;
/// Growth of the server's anonymous memory allowed while the records pass through.
const MEMORY_BUDGET_KIB: u64 = 48 * 1024;

fn value(i: u64) -> Bytes {
    let mut value = format!("{i:010}").into_bytes();
    value.resize(VALUE_BYTES, b'~');
    Bytes::from(value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_subscriber_gets_everything_in_order_with_bounded_server_memory() {
    let dir = tempfile::tempdir().unwrap();
    let server = BinaryServer::start(dir.path());
    let mut client = connect(&server.url).await;
    create_topic(&mut client, "firehose", 1).await;

    let pid = server.child.id();
    let baseline = anon_rss_kib(pid);
    let peak = Arc::new(AtomicU64::new(baseline));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(anon_rss_kib(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    let request = pb::SubscribeRequest {
        topic: "firehose".into(),
        partition: Some(0),
        start: Some(Start::Position(pb::StartPosition::Earliest.into())),
        max_records_per_message: 100,
        ..Default::default()
    };
    let mut stream = client
        .event_log
        .subscribe(request)
        .await
        .unwrap()
        .into_inner();

    let mut producer_client = client.clone();
    let producer = tokio::spawn(async move {
        for batch in 0..RECORDS / BATCH {
            let records = (batch * BATCH..(batch + 1) * BATCH)
                .map(|i| pb::Record {
                    key: None,
                    value: Some(value(i)),
                    headers: vec![],
                    timestamp_ms: None,
                })
                .collect();
            produce(&mut producer_client, "firehose", Some(0), records).await;
        }
    });

    let mut expected = 0;
    while expected < RECORDS {
        let message = stream
            .message()
            .await
            .expect("stream")
            .expect("stream ended early");
        for record in &message.records {
            assert_eq!(
                record.offset, expected,
                "offsets arrive in order, none skipped or repeated"
            );
            assert_eq!(record.value.as_ref(), Some(&value(expected)));
            expected += 1;
        }
        // The slow part: far slower than the producer.
        tokio::time::sleep(Duration::from_millis(8)).await;
    }
    producer.await.unwrap();
    sampling.store(false, Ordering::Relaxed);
    sampler.await.unwrap();

    let growth = peak.load(Ordering::Relaxed).saturating_sub(baseline);
    eprintln!("server anonymous memory: baseline {baseline} KiB, peak growth {growth} KiB");
    assert!(
        growth < MEMORY_BUDGET_KIB,
        "server memory grew by {growth} KiB while ~{} KiB of records passed a slow reader",
        RECORDS * VALUE_BYTES as u64 / 1024
    );
    server.stop();
}
