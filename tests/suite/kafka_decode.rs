//! Untrusted bytes on the Kafka port: the listener's frame reader and request decoding
//! (`eventlog::kafka::frame::read_frame`, `eventlog::kafka::request::decode_request`,
//! and `eventlog::kafka::records::decode_produced` for a Produce request's batches),
//! the functions the server runs on every frame and the fuzz target
//! `fuzz/fuzz_targets/kafka_request.rs` calls.
//!
//! A valid request of every served API and version decodes as what it was built as;
//! thousands of seeded mutations of them decode or fail with a typed error, never a
//! panic; the frames among them that the decoder refuses each close only their own
//! connection on a live server, which then serves a new connection with its stored
//! records and group offsets unchanged. The seeds are also the committed fuzz corpus.

use crate::common;
use crate::kafka_support;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::{commit, committed_offsets, create_topic, fetch_all, produce, record};
use eventlog::kafka::DEFAULT_MAX_REQUEST_BYTES;
use eventlog::kafka::frame::{FrameError, read_frame};
use eventlog::kafka::records::decode_produced;
use eventlog::kafka::request::{DecodedRequest, RequestError, decode_request};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestKind};
use kafka_protocol::protocol::StrBytes;
use kafka_support::mutate::{Rng, mutate};
use kafka_support::seeds::{self, GROUP, Seed, TOPIC};
use kafka_support::{Conn, start_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;

/// Mutants per seed; with about 65 seeds, some 6,500 inputs.
const MUTANTS_PER_SEED: usize = 100;
/// Fixed, so a failure is reproducible.
const RNG_SEED: u64 = 0x6b61_666b_615f_6465;
/// Never reached: the input is all in memory.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// What the server's request loop makes of a connection's bytes.
#[derive(Debug, Default)]
struct Outcome {
    /// Frames decoded into requests, in order.
    requests: Vec<DecodedRequest>,
    /// Produce batches refused (answered with INVALID_RECORD, not closing).
    refused_batches: usize,
    /// Why the loop stopped, unless the bytes simply ended between frames.
    closed: Option<Closed>,
}

/// Why the server would close the connection.
#[derive(Debug)]
enum Closed {
    Frame(FrameError),
    Request(RequestError),
}

impl Closed {
    /// The kind of refusal, to count how often the mutants reach each.
    fn kind(&self) -> &'static str {
        match self {
            Closed::Frame(FrameError::TooLarge { .. }) => "frame too large",
            Closed::Frame(FrameError::TooShort(_)) => "frame too short",
            Closed::Frame(_) => "frame cut short",
            Closed::Request(RequestError::NoHeader(_)) => "no header",
            Closed::Request(RequestError::UnknownApiKey(_)) => "unknown API key",
            Closed::Request(RequestError::UnsupportedVersion { .. }) => "unsupported version",
            Closed::Request(RequestError::MalformedHeader { .. }) => "malformed header",
            Closed::Request(RequestError::MalformedMessage { .. }) => "malformed message",
        }
    }
}

/// Reads and decodes frames from `bytes` as a connection does, until the first one
/// the server closes on.
async fn decode_connection(mut bytes: &[u8]) -> Outcome {
    let memory = Arc::new(Semaphore::new(DEFAULT_MAX_REQUEST_BYTES));
    let mut outcome = Outcome::default();
    loop {
        let frame =
            match read_frame(&mut bytes, DEFAULT_MAX_REQUEST_BYTES, BODY_TIMEOUT, &memory).await {
                Ok(frame) => frame,
                Err(FrameError::Closed) => return outcome,
                Err(err) => {
                    outcome.closed = Some(Closed::Frame(err));
                    return outcome;
                }
            };
        let request = match decode_request(frame.body.clone()) {
            Ok(request) => request,
            Err(err) => {
                outcome.closed = Some(Closed::Request(err));
                return outcome;
            }
        };
        if let RequestKind::Produce(produce) = &request.message {
            for topic in &produce.topic_data {
                for partition in &topic.partition_data {
                    let batch = partition.records.as_ref().map(|r| decode_produced(r, 0));
                    if !matches!(batch, Some(Ok(_))) {
                        outcome.refused_batches += 1;
                    }
                }
            }
        }
        outcome.requests.push(request);
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Every seed's mutants, in a fixed order, with the seed each came from.
fn mutants() -> Vec<(String, Vec<u8>)> {
    let mut rng = Rng::new(RNG_SEED);
    let mut out = Vec::new();
    for seed in seeds::all() {
        for i in 0..MUTANTS_PER_SEED {
            out.push((format!("{} #{i}", seed.name), mutate(&mut rng, &seed.frame)));
        }
    }
    out
}

#[test]
fn every_seed_decodes_as_the_request_it_was_built_as() {
    let runtime = runtime();
    let seeds = seeds::all();
    for key in eventlog::kafka::versions::SUPPORTED.iter().map(|s| s.key) {
        assert!(seeds.iter().any(|s| s.key == key), "no seed of {key:?}");
    }
    for Seed {
        name,
        key,
        version,
        frame,
    } in seeds
    {
        let outcome = runtime.block_on(decode_connection(&frame));
        assert!(outcome.closed.is_none(), "{name}: {:?}", outcome.closed);
        assert_eq!(outcome.refused_batches, 0, "{name}");
        let [request] = outcome.requests.as_slice() else {
            panic!("{name}: {} requests", outcome.requests.len());
        };
        assert_eq!((request.key, request.version), (key, version), "{name}");
        assert_eq!(
            request.header.client_id.as_deref(),
            Some("seed-client"),
            "{name}"
        );
    }
}

#[test]
fn mutated_requests_decode_or_fail_with_a_typed_error() {
    let runtime = runtime();
    let (mut decoded, mut refused_batches) = (0, 0);
    let mut closed: BTreeMap<&str, usize> = BTreeMap::new();
    for (name, mutant) in mutants() {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            runtime.block_on(decode_connection(&mutant))
        }))
        .unwrap_or_else(|_| panic!("mutant {name} panicked the decoder: {mutant:02x?}"));
        decoded += outcome.requests.len();
        refused_batches += outcome.refused_batches;
        if let Some(why) = outcome.closed {
            *closed.entry(why.kind()).or_default() += 1;
        }
    }
    println!("decoded {decoded}, batches refused {refused_batches}, closed {closed:?}");
    // The mutants reach every refusal past the first checks, and also get through.
    assert!(decoded > 500, "only {decoded} mutants decoded");
    assert!(
        refused_batches > 20,
        "only {refused_batches} batches refused"
    );
    for kind in [
        "frame too large",
        "frame too short",
        "frame cut short",
        "unknown API key",
        "unsupported version",
        "malformed header",
        "malformed message",
    ] {
        assert!(closed.get(kind) > Some(&10), "{kind}: {closed:?}");
    }
}

/// Where the fuzz target's committed seed corpus lives.
fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/kafka_request")
}

#[test]
fn the_committed_fuzz_corpus_holds_every_seed() {
    for seed in seeds::all() {
        let path = corpus_dir().join(&seed.name);
        let committed = std::fs::read(&path).unwrap_or_else(|err| {
            panic!(
                "{}: {err}; regenerate with \
                 `cargo test --test suite kafka_decode::write_the_fuzz_corpus -- --ignored`",
                path.display()
            )
        });
        assert_eq!(committed, seed.frame, "{} differs from its seed", seed.name);
    }
}

/// Writes the seeds to the fuzz corpus directory (run on purpose, not by `cargo test`).
#[test]
#[ignore = "writes fuzz/corpus/kafka_request; run it after changing the seeds"]
fn write_the_fuzz_corpus() {
    std::fs::create_dir_all(corpus_dir()).expect("corpus dir");
    for seed in seeds::all() {
        std::fs::write(corpus_dir().join(&seed.name), &seed.frame).expect("write seed");
    }
}

/// Frames the decoder refuses on a live server: each connection is closed (only
/// ApiVersions at an unknown version gets an answer first), a new connection is
/// served, and the topic and group the mutants named are as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_frames_close_their_connection_and_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, addr) = start_with(dir.path(), |_| {}).await;
    let mut client = server.client().await;
    create_topic(&mut client, TOPIC, 1).await;
    let records = (0..3).map(|i| record(Some("k"), Some(&format!("v{i}"))));
    produce(&mut client, TOPIC, Some(0), records.collect()).await;
    commit(&mut client, GROUP, TOPIC, &[(0, 2)])
        .await
        .expect("commit");
    let stored = fetch_all(&mut client, TOPIC, 0, 0).await;

    // Every tenth refused mutant: a few hundred connections, enough of each kind.
    let mut refused = Vec::new();
    for (_, mutant) in mutants().into_iter().step_by(10) {
        let outcome = decode_connection(&mutant).await;
        let Some(closed) = outcome.closed.filter(|_| outcome.requests.is_empty()) else {
            continue;
        };
        let answered = matches!(
            closed,
            Closed::Request(RequestError::UnsupportedVersion {
                key: ApiKey::ApiVersions,
                ..
            })
        );
        refused.push((mutant, answered));
    }
    assert!(
        refused.len() > 100,
        "only {} refused mutants",
        refused.len()
    );
    for (mutant, answered) in &refused {
        let reply = send_and_read_until_closed(addr, mutant).await;
        assert_eq!(
            !reply.is_empty(),
            *answered,
            "reply {reply:02x?} to {mutant:02x?}"
        );
    }

    let mut conn = Conn::open(addr).await;
    let request = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("after"))
        .with_client_software_version(StrBytes::from_static_str("1"));
    let versions: ApiVersionsResponse = conn.call(ApiKey::ApiVersions, 3, &request).await;
    assert_eq!(versions.error_code, 0);
    assert_eq!(fetch_all(&mut client, TOPIC, 0, 0).await, stored);
    assert_eq!(
        committed_offsets(&mut client, GROUP, TOPIC).await,
        vec![Some(2)]
    );
    server.stop().await;
}

/// Sends `bytes` on a new connection, ends its sending side (so a frame announcing
/// more bytes ends early rather than waits for its body deadline), and reads what the
/// server sends until it closes the connection.
async fn send_and_read_until_closed(addr: std::net::SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // The server may close before it read everything: a failed send is expected then.
    if stream.write_all(bytes).await.is_ok() {
        let _ = stream.shutdown().await;
    }
    let mut reply = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut reply))
        .await
        .expect("the server neither answered nor closed the connection");
    if let Err(err) = read {
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
    }
    reply
}
