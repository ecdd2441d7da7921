//! Clients that abuse connections rather than send bad messages: thousands of streams
//! on one connection, more subscriptions than the server allows, subscribers that never
//! read, and a producer that disconnects halfway through a message. The server stays
//! healthy, its memory stays bounded, other clients are unaffected, and nothing partial
//! is appended.

use crate::cleanup_support;
use crate::common;
use crate::raw_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use cleanup_support::wait_for;
use common::{
    BinaryServer, TestServer, anon_rss_kib, connect, create_topic, fetch_all, produce, record,
};
use eventlog::client::Client;
use eventlog::proto::v1 as pb;
use eventlog::proto::v1::subscribe_request::Start;
use eventlog::service::server::MAX_STREAMS_PER_CONNECTION;
use eventlog::service::subscription_slots::MAX_OPEN_SUBSCRIPTIONS;
use prost::Message;
use raw_support::{DATA, RawH2, SETTINGS_MAX_CONCURRENT_STREAMS, channel, serving};
use tokio::sync::watch;
use tonic::Code;

fn follow(topic: &str) -> pb::SubscribeRequest {
    pb::SubscribeRequest {
        topic: topic.into(),
        start: Some(Start::Position(pb::StartPosition::Earliest.into())),
        ..Default::default()
    }
}

/// The partition's next offset.
async fn end_of(client: &mut Client, topic: &str, partition: u32) -> u64 {
    client
        .event_log
        .list_offsets(pb::ListOffsetsRequest {
            topic: topic.into(),
            partition: Some(partition),
            timestamp_ms: None,
        })
        .await
        .expect("list offsets")
        .into_inner()
        .partitions[0]
        .latest_offset
}

/// Produces one record on a fresh connection and reads it back.
async fn produce_and_fetch(url: &str, topic: &str) {
    let mut other = connect(url).await;
    let appended = produce(&mut other, topic, Some(0), vec![record(None, Some("ok"))]).await;
    let offset = appended.partitions[0].base_offset;
    let records = fetch_all(&mut other, topic, 0, offset).await;
    assert_eq!(common::value_text(&records[0]), "ok");
}

/// Opens a subscription to `topic` and reads its first message (the caught-up marker
/// of an empty topic, or records).
async fn open(
    client: &mut Client,
    topic: &str,
) -> Result<tonic::Streaming<pb::SubscribeResponse>, tonic::Status> {
    let mut stream = client
        .event_log
        .subscribe(follow(topic))
        .await?
        .into_inner();
    stream.message().await?.expect("a first message");
    Ok(stream)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_streams_on_one_connection_wait_their_turn() {
    const STREAMS: usize = 2000;
    let limit = MAX_STREAMS_PER_CONNECTION as usize;
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "quiet", 1).await;

    // The server advertises its per-connection limit; HTTP/2 clients keep to it.
    let raw = RawH2::connect(server.addr).await;
    assert!(
        raw.server_settings
            .contains(&(SETTINGS_MAX_CONCURRENT_STREAMS, MAX_STREAMS_PER_CONNECTION)),
        "{:?}",
        raw.server_settings
    );
    drop(raw);

    // 2000 subscriptions at once on `client`'s one connection; each holds its stream
    // until released.
    let (release, released) = watch::channel(false);
    let opened = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(STREAMS);
    for _ in 0..STREAMS {
        let (mut client, mut released) = (client.clone(), released.clone());
        let opened = opened.clone();
        tasks.push(tokio::spawn(async move {
            let stream = open(&mut client, "quiet").await?;
            opened.fetch_add(1, Ordering::SeqCst);
            let _ = released.wait_for(|released| *released).await;
            drop(stream);
            Ok::<(), tonic::Status>(())
        }));
    }
    wait_for("the first streams to open", || {
        let opened = opened.load(Ordering::SeqCst);
        async move {
            if opened >= limit {
                Ok(())
            } else {
                Err(format!("{opened} open"))
            }
        }
    })
    .await;

    // Meanwhile the server serves other clients.
    let health = channel(&server.url()).await;
    assert!(serving(&health).await);
    produce_and_fetch(&server.url(), "quiet").await;
    // The rest wait for a free stream: none failed, none beyond the limit opened.
    assert_eq!(opened.load(Ordering::SeqCst), limit);
    assert!(tasks.iter().all(|task| !task.is_finished()));

    // Released, the streams close and the waiting ones get their turn.
    release.send(true).unwrap();
    for task in tasks {
        task.await
            .unwrap()
            .expect("every subscription opens in turn");
    }
    assert_eq!(opened.load(Ordering::SeqCst), STREAMS);
    assert!(serving(&health).await);
    produce_and_fetch(&server.url(), "quiet").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_beyond_the_server_cap_get_resource_exhausted() {
    const CONNECTIONS: usize = 5;
    const PER_CONNECTION: usize = 220;
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "popular", 1).await;

    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let client = connect(&server.url()).await;
        for _ in 0..PER_CONNECTION {
            let mut client = client.clone();
            tasks.push(tokio::spawn(
                async move { open(&mut client, "popular").await },
            ));
        }
    }
    let (mut streams, mut refused) = (Vec::new(), Vec::new());
    for task in tasks {
        match task.await.unwrap() {
            Ok(stream) => streams.push(stream),
            Err(status) => refused.push(status),
        }
    }
    assert_eq!(streams.len(), MAX_OPEN_SUBSCRIPTIONS);
    assert_eq!(
        refused.len(),
        CONNECTIONS * PER_CONNECTION - MAX_OPEN_SUBSCRIPTIONS
    );
    for status in &refused {
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        assert!(
            status
                .message()
                .contains("too many open subscriptions: the server allows 1024"),
            "{status:?}"
        );
    }
    let health = channel(&server.url()).await;
    assert!(serving(&health).await);
    produce_and_fetch(&server.url(), "popular").await;

    // Closed subscriptions give their slots back.
    drop(streams);
    wait_for("a slot to come back", || {
        let mut client = client.clone();
        async move {
            open(&mut client, "popular")
                .await
                .map(drop)
                .map_err(|status| format!("{status:?}"))
        }
    })
    .await;
    server.stop().await;
}

/// Records in the deep topic: 96 MiB of 1 KiB values, far more than the memory budget,
/// so a server that buffered for a reader that never reads would be caught.
const DEEP_RECORDS: u64 = 96_000;
const VALUE_BYTES: usize = 1024;
/// Growth of the server's anonymous memory allowed while the records pass through.
const MEMORY_BUDGET_KIB: u64 = 48 * 1024;

fn deep_value(i: u64) -> Bytes {
    let mut value = format!("{i:010}").into_bytes();
    value.resize(VALUE_BYTES, b'~');
    Bytes::from(value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_that_never_read_leave_server_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let server = BinaryServer::start(dir.path());
    let mut client = connect(&server.url).await;
    create_topic(&mut client, "deep", 1).await;
    for batch in 0..DEEP_RECORDS / 1000 {
        let records = (batch * 1000..(batch + 1) * 1000)
            .map(|i| pb::Record {
                value: Some(deep_value(i)),
                ..record(None, None)
            })
            .collect();
        produce(&mut client, "deep", Some(0), records).await;
    }

    let pid = server.child.id();
    let baseline = anon_rss_kib(pid);
    let peak = Arc::new(AtomicU64::new(baseline));
    let (stop_sampling, mut sampling_stopped) = watch::channel(false);
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(anon_rss_kib(pid), Ordering::Relaxed);
                let tick = tokio::time::sleep(Duration::from_millis(50));
                tokio::select! {
                    () = tick => {}
                    _ = sampling_stopped.changed() => return,
                }
            }
        })
    };

    // Eight subscriptions from the start of 96 MiB, on one connection, never read.
    let mut idle = connect(&server.url).await;
    let mut stalled = Vec::new();
    for _ in 0..8 {
        let stream = idle.event_log.subscribe(follow("deep")).await.unwrap();
        stalled.push(stream.into_inner());
    }

    // Another client reads everything, in order, while they sit there.
    let mut reader = connect(&server.url).await;
    let mut stream = reader
        .event_log
        .subscribe(follow("deep"))
        .await
        .unwrap()
        .into_inner();
    let mut expected = 0;
    while expected < DEEP_RECORDS {
        let message = stream.message().await.unwrap().expect("stream ended");
        for record in &message.records {
            assert_eq!(record.offset, expected);
            assert_eq!(record.value.as_ref(), Some(&deep_value(expected)));
            expected += 1;
        }
    }
    let health = channel(&server.url).await;
    assert!(serving(&health).await);
    stop_sampling.send(true).unwrap();
    sampler.await.unwrap();

    let growth = peak.load(Ordering::Relaxed).saturating_sub(baseline);
    eprintln!("server anonymous memory: baseline {baseline} KiB, peak growth {growth} KiB");
    assert!(
        growth < MEMORY_BUDGET_KIB,
        "server memory grew by {growth} KiB with 8 idle subscribers of ~{} KiB",
        DEEP_RECORDS * VALUE_BYTES as u64 / 1024
    );
    drop(stalled);
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_that_disconnects_mid_message_appends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "half", 1).await;
    let two = vec![record(None, Some("a")), record(None, Some("b"))];
    produce(&mut client, "half", Some(0), two).await;
    let before = end_of(&mut client, "half", 0).await;

    let request = pb::ProduceRequest {
        topic: "half".into(),
        partition: Some(0),
        records: vec![pb::Record {
            value: Some(Bytes::from(vec![b'x'; 8000])),
            ..record(None, None)
        }],
        expected_next_offset: None,
        ..Default::default()
    }
    .encode_to_vec();
    // The gRPC length prefix announces the whole message; half of it follows.
    let mut message = vec![0];
    message.extend_from_slice(&(request.len() as u32).to_be_bytes());
    message.extend_from_slice(&request[..request.len() / 2]);
    let cuts = [message.len(), 3];
    for cut in cuts {
        let mut raw = RawH2::connect(server.addr).await;
        raw.send_grpc_headers(1, "/eventlog.v1.EventLog/Produce")
            .await;
        raw.send(DATA, 0, 1, &message[..cut]).await;
        // Answered only after the server read everything sent before it.
        raw.ping_pong().await;
        drop(raw);
    }

    let health = channel(&server.url()).await;
    assert!(serving(&health).await);
    assert_eq!(end_of(&mut client, "half", 0).await, before);
    let appended = produce(&mut client, "half", Some(0), vec![record(None, Some("c"))]).await;
    assert_eq!(appended.partitions[0].base_offset, before);
    let values: Vec<String> = fetch_all(&mut client, "half", 0, 0)
        .await
        .iter()
        .map(common::value_text)
        .collect();
    assert_eq!(values, ["a", "b", "c"]);
    server.stop().await;
}
