//! The Python decoder in `docs/raw_batches.py` (standard library only) reads the raw
//! batches a live server sends and finds exactly the records per-record delivery
//! returns, from an offset inside a batch; a damaged batch makes it fail.

use crate::common;

use std::io::Write;
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use common::{TestServer, create_topic, fetch_all, produce};
use eventlog::proto::v1 as pb;

/// Runs the decoder on `input` from `from`: its exit status and standard output.
fn python_decode(input: &[u8], from: u64) -> (bool, String) {
    let mut child = Command::new("python3")
        .arg("docs/raw_batches.py")
        .arg(from.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is needed to run docs/raw_batches.py");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
    )
}

fn b64(bytes: &Option<Bytes>) -> serde_json::Value {
    bytes
        .as_ref()
        .map_or(serde_json::Value::Null, |b| STANDARD.encode(b).into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_decoder_reads_what_the_server_sends() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "py", 1).await;
    for round in 0..3u8 {
        let records = (0..4u8)
            .map(|i| pb::Record {
                key: (i != 1).then(|| Bytes::from(format!("key-{round}-{i}"))),
                // Record 2 of each batch is a tombstone; the others carry binary values.
                value: (i != 2).then(|| Bytes::from(vec![round, i, 0, 255])),
                headers: vec![pb::Header {
                    key: "trace".into(),
                    value: Bytes::from(vec![i; 3]),
                }],
                timestamp_ms: Some(1_700_000_000_000 + i64::from(round * 10 + i)),
            })
            .collect();
        produce(&mut client, "py", Some(0), records).await;
    }
    let from = 5;
    let reply = client
        .event_log
        .fetch(pb::FetchRequest {
            topic: "py".into(),
            partition: 0,
            offset: from,
            delivery: pb::Delivery::RawBatches.into(),
            batch_versions: vec![2],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let wire: Vec<u8> = reply.batches.concat();

    let (ok, stdout) = python_decode(&wire, from);
    assert!(ok, "the decoder failed on good batches");
    let decoded: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let expected: Vec<serde_json::Value> = fetch_all(&mut client, "py", 0, from)
        .await
        .iter()
        .map(|r| {
            serde_json::json!({
                "offset": r.offset,
                "timestamp_ms": r.timestamp_ms,
                "key": b64(&r.key),
                "value": b64(&r.value),
                "headers": r.headers.iter()
                    .map(|h| serde_json::json!([h.key, b64(&Some(h.value.clone()))]))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    assert_eq!(expected.len(), 7);
    assert_eq!(decoded, expected);

    // One flipped bit in the last batch's records: the CRC check refuses it.
    let mut damaged = wire.clone();
    let last = damaged.len() - 2;
    damaged[last] ^= 0x01;
    let (ok, _) = python_decode(&damaged, from);
    assert!(!ok, "the decoder accepted a damaged batch");
    server.stop().await;
}
