//! Bad input, as one table: each row is a request that breaks a rule (or sits on the
//! edge of one), the status code it must get, and a part of the message that names the
//! problem (for rows that must succeed, a part of the reply's summary). Raw rows send
//! hand-made protobuf bytes. After the table the server is still SERVING and a normal
//! produce and fetch work, the data directory holds only what the valid requests made,
//! and nothing beside it was created or touched. (The create-topic rows of
//! `status_codes.rs` are not repeated.)

use crate::cleanup_support;
use crate::common;
use crate::raw_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use bytes::Bytes;
use cleanup_support::{partition0, wait_for};
use common::{TestServer, create_topic, group_subscribe_request, produce, record};
use eventlog::client::Client;
use eventlog::proto::v1 as pb;
use eventlog::proto::v1::subscribe_request::Start;
use prost::Message;
use raw_support::{FIXED32, FIXED64, channel, key, len_field, raw_unary, serving, varint_field};
use tonic::transport::Channel;
use tonic::{Code, Status};

/// The documented cap on the bytes of one fetch (beyond one oversized record).
const MAX_FETCH_BYTES: usize = 16 << 20;
/// The server's gRPC message limit.
const MAX_MESSAGE_BYTES: usize = 64 << 20;
const MIB: usize = 1 << 20;

enum Call {
    Create(pb::CreateTopicRequest),
    DeleteTopic(&'static str),
    ResetConfig(&'static str, String),
    Produce(pb::ProduceRequest),
    Fetch(pb::FetchRequest),
    Subscribe(pb::SubscribeRequest),
    ListOffsets(pb::ListOffsetsRequest),
    Commit(pb::CommitOffsetsRequest),
    Committed(pb::GetCommittedOffsetsRequest),
    DescribeGroup(String),
    /// Hand-made bytes to a method path; a Fetch reply is summarised like `Fetch`'s.
    Raw(&'static str, Bytes),
}

struct Row {
    name: &'static str,
    call: Call,
    code: Code,
    message: String,
}

fn row(name: &'static str, call: Call, code: Code, message: impl Into<String>) -> Row {
    Row {
        name,
        call,
        code,
        message: message.into(),
    }
}

fn fetch(topic: &str, partition: u32, offset: u64) -> pb::FetchRequest {
    pb::FetchRequest {
        topic: topic.into(),
        partition,
        offset,
        ..Default::default()
    }
}

fn fetch_bytes(topic: &str, max_bytes: u32) -> Call {
    Call::Fetch(pb::FetchRequest {
        max_bytes,
        ..fetch(topic, 0, 0)
    })
}

fn produce_to(topic: &str, partition: Option<u32>, records: Vec<pb::Record>) -> Call {
    Call::Produce(pb::ProduceRequest {
        topic: topic.into(),
        partition,
        records,
        expected_next_offset: None,
        ..Default::default()
    })
}

fn one_record(topic: &str) -> Call {
    produce_to(topic, None, vec![record(None, Some("v"))])
}

fn subscribe(topic: &str, partition: Option<u32>, start: Option<Start>) -> Call {
    Call::Subscribe(pb::SubscribeRequest {
        topic: topic.into(),
        partition,
        start,
        ..Default::default()
    })
}

fn list(topic: &str, partition: Option<u32>, timestamp_ms: Option<i64>) -> Call {
    Call::ListOffsets(pb::ListOffsetsRequest {
        topic: topic.into(),
        partition,
        timestamp_ms,
    })
}

fn create(name: &str, partitions: u32) -> Call {
    Call::Create(pb::CreateTopicRequest {
        name: name.into(),
        partitions,
        replication_factor: 0,
        config: None,
    })
}

fn commit(group: &str, topic: &str, offsets: &[(u32, u64)]) -> Call {
    Call::Commit(pb::CommitOffsetsRequest {
        group: group.into(),
        topic: topic.into(),
        offsets: offsets
            .iter()
            .map(|&(partition, next_offset)| pb::OffsetCommit {
                partition,
                next_offset,
                metadata: String::new(),
            })
            .collect(),
        ..Default::default()
    })
}

fn committed(group: &str, topic: &str) -> Call {
    Call::Committed(pb::GetCommittedOffsetsRequest {
        group: group.into(),
        topic: topic.into(),
    })
}

fn value_of(len: usize) -> pb::Record {
    pb::Record {
        key: None,
        value: Some(Bytes::from(vec![b'v'; len])),
        headers: vec![],
        timestamp_ms: None,
    }
}

fn fetch_summary(reply: &pb::FetchResponse) -> String {
    format!(
        "records={} next_offset={} high_watermark={} log_start={}",
        reply.records.len(),
        reply.next_offset,
        reply.high_watermark,
        reply.log_start_offset
    )
}

/// Runs `call`; a success is summarised as text for the row's check.
async fn run(client: &mut Client, raw: &Channel, call: Call) -> Result<String, Status> {
    let (event_log, admin) = (&mut client.event_log, &mut client.admin);
    Ok(match call {
        Call::Create(request) => {
            let topic = admin.create_topic(request).await?.into_inner().topic;
            let topic = topic.expect("created topic");
            format!("created {} partitions={}", topic.name, topic.partitions)
        }
        Call::DeleteTopic(name) => {
            let request = pb::DeleteTopicRequest { name: name.into() };
            format!("{:?}", admin.delete_topic(request).await?.into_inner())
        }
        Call::ResetConfig(name, field) => {
            let request = pb::UpdateTopicConfigRequest {
                name: name.into(),
                set: None,
                reset: vec![field],
            };
            let topic = admin.update_topic_config(request).await?.into_inner();
            format!("{topic:?}")
        }
        Call::Produce(request) => format!("{:?}", event_log.produce(request).await?.into_inner()),
        Call::Fetch(request) => fetch_summary(&event_log.fetch(request).await?.into_inner()),
        Call::Subscribe(request) => {
            let mut stream = event_log.subscribe(request).await?.into_inner();
            let first = stream.message().await?.expect("a first message");
            format!(
                "records={} caught_up={}",
                first.records.len(),
                first.caught_up
            )
        }
        Call::ListOffsets(request) => {
            format!("{:?}", event_log.list_offsets(request).await?.into_inner())
        }
        Call::Commit(request) => {
            format!(
                "{:?}",
                event_log.commit_offsets(request).await?.into_inner()
            )
        }
        Call::Committed(request) => format!(
            "{:?}",
            event_log.get_committed_offsets(request).await?.into_inner()
        ),
        Call::DescribeGroup(group) => {
            let request = pb::DescribeGroupRequest { group };
            format!("{:?}", admin.describe_group(request).await?.into_inner())
        }
        Call::Raw(path, body) => {
            let reply = raw_unary(raw, path, body).await?;
            if path.ends_with("/Fetch") {
                fetch_summary(&pb::FetchResponse::decode(reply).expect("a fetch reply"))
            } else {
                format!("{} bytes", reply.len())
            }
        }
    })
}

/// A FetchRequest for `topic` partition 0 offset 0 in bytes, followed by `extra`.
fn raw_fetch(topic: &[u8], extra: &[u8]) -> Bytes {
    let mut out = Vec::new();
    len_field(&mut out, 1, topic);
    out.extend_from_slice(extra);
    Bytes::from(out)
}

/// Every file and directory under `root` except `skip`, with size and modification time.
fn tree(root: &Path, skip: &Path) -> BTreeMap<String, (u64, SystemTime)> {
    let mut found = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("dir entry").path();
            if path == skip {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).expect("metadata");
            let modified = meta.modified().expect("mtime");
            found.insert(path.display().to_string(), (meta.len(), modified));
            if meta.is_dir() {
                pending.push(path);
            }
        }
    }
    found
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_its_status_and_the_server_stays_healthy() {
    // The data directory sits beside a sibling file and directory that must not change.
    let parent = tempfile::tempdir().unwrap();
    let data_dir = parent.path().join("data");
    std::fs::create_dir(parent.path().join("sibling")).unwrap();
    std::fs::write(parent.path().join("sibling/keep.txt"), b"untouched").unwrap();
    let outside_before = tree(parent.path(), &data_dir);

    let server = TestServer::start(&data_dir).await;
    let mut client = server.client().await;
    let raw = channel(&server.url()).await;

    // "bad": 2 partitions, 3 records in partition 0.
    create_topic(&mut client, "bad", 2).await;
    let three = (0..3).map(|_| record(None, Some("v"))).collect();
    produce(&mut client, "bad", Some(0), three).await;
    // "aged": retention removed its first segment, so its log start is above 0.
    let aged = pb::TopicConfig {
        retention_ms: Some(3_600_000),
        ..Default::default()
    };
    cleanup_support::create(&mut client, "aged", aged).await;
    for _ in 0..3 {
        // Stamped in 1970: hours past the retention once sealed; 600 KB each rolls
        // the 1 MiB segment after the second.
        let old = pb::Record {
            timestamp_ms: Some(1_000),
            ..value_of(600 << 10)
        };
        produce(&mut client, "aged", Some(0), vec![old]).await;
    }
    let aged = wait_for("retention to move the log start", || {
        let mut client = client.clone();
        async move {
            let p = partition0(&mut client, "aged").await;
            if p.log_start_offset > 0 {
                Ok(p)
            } else {
                Err(format!("{p:?}"))
            }
        }
    })
    .await;
    let (start, end) = (aged.log_start_offset, aged.high_watermark);
    let aged_range = format!("{start}..={end}");
    // "wide": 18 records of 1 MiB, more than one fetch may return.
    create_topic(&mut client, "wide", 1).await;
    for _ in 0..18 {
        produce(&mut client, "wide", Some(0), vec![value_of(MIB)]).await;
    }

    let long_name = "n".repeat(250);
    let huge_name = "h".repeat(100_000);
    let long_group = "g".repeat(256);
    let mut oversized_header = record(None, Some("v"));
    oversized_header.headers.push(pb::Header {
        key: "k".repeat(70_000),
        value: Bytes::new(),
    });
    let over_batch_limit = (0..17).map(|_| value_of(MIB)).collect();
    let over_message_limit = pb::ProduceRequest {
        topic: "bad".into(),
        partition: Some(1),
        records: vec![value_of(MAX_MESSAGE_BYTES)],
        expected_next_offset: None,
        ..Default::default()
    }
    .encode_to_vec();
    let mut unknown_fields = Vec::new();
    varint_field(&mut unknown_fields, 99, 7);
    len_field(&mut unknown_fields, 100, b"from a newer client");
    key(&mut unknown_fields, 101, FIXED32);
    unknown_fields.extend_from_slice(&[1, 2, 3, 4]);
    key(&mut unknown_fields, 102, FIXED64);
    unknown_fields.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    // -1 as an int32 on the wire: ten bytes, read as a uint32 it is 4294967295.
    let mut negative_partition = Vec::new();
    varint_field(&mut negative_partition, 2, -1i64 as u64);
    let mut negative_count = Vec::new();
    len_field(&mut negative_count, 1, b"negative");
    varint_field(&mut negative_count, 2, -1i64 as u64);
    let mut bad_header_key = Vec::new();
    let mut header = Vec::new();
    len_field(&mut header, 1, &[0xc3, 0x28]);
    let mut bad_record = Vec::new();
    len_field(&mut bad_record, 3, &header);
    len_field(&mut bad_header_key, 1, b"bad");
    len_field(&mut bad_header_key, 3, &bad_record);

    use Code::{InvalidArgument, NotFound, OutOfRange, ResourceExhausted, Unimplemented};
    const FETCH: &str = "/eventlog.v1.EventLog/Fetch";
    let names = "may only contain A-Z, a-z, 0-9";
    let rows = vec![
        // Topic names, through every kind of RPC.
        row(
            "empty name, produce",
            one_record(""),
            InvalidArgument,
            "must not be empty",
        ),
        row(
            "empty name, subscribe",
            subscribe("", None, None),
            InvalidArgument,
            "must not be empty",
        ),
        row(
            "empty name, list offsets",
            list("", None, None),
            InvalidArgument,
            "must not be empty",
        ),
        row(
            "250 characters, fetch",
            Call::Fetch(fetch(&long_name, 0, 0)),
            InvalidArgument,
            "at most 249",
        ),
        row(
            "100 KB name, create",
            create(&huge_name, 1),
            InvalidArgument,
            "at most 249",
        ),
        row(
            "100 KB name, produce",
            one_record(&huge_name),
            InvalidArgument,
            "at most 249",
        ),
        row("slash, produce", one_record("a/b"), InvalidArgument, names),
        row(
            "slash, delete",
            Call::DeleteTopic("../bad"),
            InvalidArgument,
            names,
        ),
        row(
            "escape above the data directory, create",
            create("../../escape", 1),
            InvalidArgument,
            names,
        ),
        row(
            "absolute path, create",
            create("/tmp/escape", 1),
            InvalidArgument,
            names,
        ),
        row(
            "dot-dot, subscribe",
            subscribe("..", Some(0), None),
            InvalidArgument,
            "must not be \".\" or \"..\"",
        ),
        row(
            "dot-dot, create",
            create("..", 1),
            InvalidArgument,
            "must not be \".\" or \"..\"",
        ),
        row(
            "dot alone, create",
            create(".", 1),
            InvalidArgument,
            "must not be \".\" or \"..\"",
        ),
        row(
            "dot alone, fetch",
            Call::Fetch(fetch(".", 0, 0)),
            InvalidArgument,
            "must not be \".\" or \"..\"",
        ),
        row("NUL, create", create("a\0b", 1), InvalidArgument, names),
        row(
            "NUL, list offsets",
            list("bad\0", None, None),
            InvalidArgument,
            names,
        ),
        row("space, create", create("a b", 1), InvalidArgument, names),
        row(
            "leading space, fetch",
            Call::Fetch(fetch(" bad", 0, 0)),
            InvalidArgument,
            names,
        ),
        row("tab, create", create("a\tb", 1), InvalidArgument, names),
        row(
            "newline, produce",
            one_record("bad\n"),
            InvalidArgument,
            names,
        ),
        row(
            "non-ASCII, create",
            create("tópico", 1),
            InvalidArgument,
            names,
        ),
        row(
            "non-ASCII, subscribe",
            subscribe("日本", None, None),
            InvalidArgument,
            names,
        ),
        row(
            "tilde, create",
            create("a~deleted-1", 1),
            InvalidArgument,
            names,
        ),
        row(
            "100 KB config field name, reset",
            Call::ResetConfig("bad", huge_name.clone()),
            InvalidArgument,
            "invalid reset: unknown field \"hhhh",
        ),
        // Partition counts: 0 is the documented default (1).
        row(
            "0 partitions",
            create("zero", 0),
            Code::Ok,
            "created zero partitions=1",
        ),
        row(
            "1025 partitions",
            create("many", 1025),
            InvalidArgument,
            "partitions 1025 is outside 1..=1024",
        ),
        row(
            "u32::MAX partitions",
            create("max", u32::MAX),
            InvalidArgument,
            "partitions 4294967295 is outside",
        ),
        row(
            "-1 partitions (raw)",
            Call::Raw(
                "/eventlog.v1.Admin/CreateTopic",
                Bytes::from(negative_count),
            ),
            InvalidArgument,
            "partitions 4294967295 is outside",
        ),
        // Partitions out of range.
        row(
            "partition 2 of 2, produce",
            produce_to("bad", Some(2), vec![record(None, Some("v"))]),
            NotFound,
            "topic bad has no partition 2 (it has 2)",
        ),
        row(
            "partition 5, subscribe",
            subscribe("bad", Some(5), None),
            NotFound,
            "has no partition 5",
        ),
        row(
            "partition 2, list offsets",
            list("bad", Some(2), None),
            NotFound,
            "has no partition 2",
        ),
        row(
            "partition u32::MAX, fetch",
            Call::Fetch(fetch("bad", u32::MAX, 0)),
            NotFound,
            "has no partition 4294967295",
        ),
        row(
            "partition -1 (raw), fetch",
            Call::Raw(FETCH, raw_fetch(b"bad", &negative_partition)),
            NotFound,
            "has no partition 4294967295",
        ),
        // Offsets past the end and below the log start.
        row(
            "offset at the end, fetch",
            Call::Fetch(fetch("bad", 0, 3)),
            Code::Ok,
            "records=0 next_offset=3 high_watermark=3",
        ),
        row(
            "offset one past the end, fetch",
            Call::Fetch(fetch("bad", 0, 4)),
            OutOfRange,
            "0..=3",
        ),
        row(
            "offset u64::MAX, fetch",
            Call::Fetch(fetch("bad", 0, u64::MAX)),
            OutOfRange,
            "0..=3",
        ),
        row(
            "offset past the end, subscribe",
            subscribe("bad", Some(0), Some(Start::Offset(u64::MAX))),
            OutOfRange,
            "0..=3",
        ),
        row(
            "offset below the log start, fetch",
            Call::Fetch(fetch("aged", 0, 0)),
            OutOfRange,
            aged_range.clone(),
        ),
        row(
            "offset below the log start, subscribe",
            subscribe("aged", Some(0), Some(Start::Offset(start - 1))),
            OutOfRange,
            aged_range.clone(),
        ),
        row(
            "time before the log start, list offsets",
            list("aged", Some(0), Some(0)),
            Code::Ok,
            format!(
                "earliest_offset: {start}, latest_offset: {end}, timestamp_offset: Some({start})"
            ),
        ),
        row(
            "time after the end, list offsets",
            list("aged", Some(0), Some(i64::MAX)),
            Code::Ok,
            "timestamp_offset: None",
        ),
        row(
            "negative time, subscribe",
            subscribe("bad", Some(0), Some(Start::TimestampMs(i64::MIN))),
            Code::Ok,
            "records=3",
        ),
        // max_bytes: 0 is the default (1 MiB); 1 still returns one record.
        row("max_bytes 0", fetch_bytes("bad", 0), Code::Ok, "records=3"),
        row(
            "max_bytes 1",
            fetch_bytes("bad", 1),
            Code::Ok,
            "records=1 next_offset=1",
        ),
        row(
            "max_bytes 0, 1 MiB records",
            fetch_bytes("wide", 0),
            Code::Ok,
            "records=1 next_offset=1",
        ),
        // Records over the limits.
        row(
            "batch over 16 MiB",
            produce_to("bad", Some(1), over_batch_limit),
            ResourceExhausted,
            "exceeds the limit of 16777216 bytes",
        ),
        row(
            "header name over 65535 bytes",
            produce_to("bad", Some(1), vec![oversized_header]),
            InvalidArgument,
            "header name of 70000 bytes exceeds 65535",
        ),
        row(
            "request over the message limit (raw)",
            Call::Raw(
                "/eventlog.v1.EventLog/Produce",
                Bytes::from(over_message_limit),
            ),
            ResourceExhausted,
            "request message too large",
        ),
        // Consumer groups.
        row(
            "empty group, commit",
            commit("", "bad", &[(0, 1)]),
            InvalidArgument,
            "invalid group name \"\": it is empty",
        ),
        row(
            "NUL in group, commit",
            commit("a\0b", "bad", &[(0, 1)]),
            InvalidArgument,
            "control characters",
        ),
        row(
            "256-byte group, committed",
            committed(&long_group, "bad"),
            InvalidArgument,
            "longer than 255 bytes",
        ),
        row(
            "newline in group, subscribe",
            subscribe("bad", None, Some(Start::Group("a\nb".into()))),
            InvalidArgument,
            "control characters",
        ),
        row(
            "empty group, describe",
            Call::DescribeGroup(String::new()),
            InvalidArgument,
            "it is empty",
        ),
        row(
            "commit to unknown topic",
            commit("g", "nope", &[(0, 1)]),
            NotFound,
            "topic nope does not exist",
        ),
        row(
            "commit to bad topic name",
            commit("g", "../bad", &[(0, 1)]),
            InvalidArgument,
            names,
        ),
        row(
            "commit to unknown partition",
            commit("g", "bad", &[(9, 1)]),
            NotFound,
            "topic bad has no partition 9 (it has 2)",
        ),
        row(
            "commit partition -1",
            commit("g", "bad", &[(u32::MAX, 1)]),
            NotFound,
            "has no partition 4294967295",
        ),
        row(
            "commit past the end",
            commit("g", "bad", &[(0, 4)]),
            OutOfRange,
            "beyond the high watermark (valid 0..=3",
        ),
        row(
            "commit below the log start",
            commit("g", "aged", &[(0, 0)]),
            Code::Ok,
            "below_log_start: true",
        ),
        row(
            "commit a partition twice",
            commit("g", "bad", &[(0, 1), (0, 2)]),
            InvalidArgument,
            "partition 0 appears twice",
        ),
        row(
            "commit metadata over 4096 bytes",
            Call::Commit(pb::CommitOffsetsRequest {
                group: "g".into(),
                topic: "bad".into(),
                offsets: vec![pb::OffsetCommit {
                    partition: 0,
                    next_offset: 1,
                    metadata: "m".repeat(5000),
                }],
                ..Default::default()
            }),
            InvalidArgument,
            "metadata of partition 0 is 5000 bytes, more than 4096",
        ),
        row(
            "auto-commit every millisecond",
            Call::Subscribe(pb::SubscribeRequest {
                auto_commit_interval_ms: Some(1),
                ..group_subscribe_request("bad", "g")
            }),
            InvalidArgument,
            "invalid auto_commit_interval_ms: 1 is not between 100 and 3600000",
        ),
        row(
            "unknown start position",
            subscribe("bad", None, Some(Start::Position(42))),
            InvalidArgument,
            "unknown start position 42",
        ),
        // Raw protobuf.
        row(
            "unknown fields (raw)",
            Call::Raw(FETCH, raw_fetch(b"bad", &unknown_fields)),
            Code::Ok,
            "records=3",
        ),
        row(
            "wrong wire type (raw)",
            Call::Raw(FETCH, Bytes::from_static(&[0x08, 0x01])),
            InvalidArgument,
            "malformed FetchRequest message",
        ),
        row(
            "truncated varint (raw)",
            Call::Raw(FETCH, Bytes::from_static(&[0x18, 0xff])),
            InvalidArgument,
            "malformed FetchRequest message",
        ),
        row(
            "length past the end (raw)",
            Call::Raw(FETCH, Bytes::from_static(&[0x0a, 0x10, b'a'])),
            InvalidArgument,
            "malformed FetchRequest message",
        ),
        row(
            "invalid UTF-8 topic (raw)",
            Call::Raw(FETCH, raw_fetch(&[0xff, 0xfe], &[])),
            InvalidArgument,
            "not UTF-8",
        ),
        row(
            "invalid UTF-8 header name (raw)",
            Call::Raw("/eventlog.v1.EventLog/Produce", Bytes::from(bad_header_key)),
            InvalidArgument,
            "malformed ProduceRequest message",
        ),
        row(
            "unknown method",
            Call::Raw("/eventlog.v1.EventLog/Truncate", Bytes::new()),
            Unimplemented,
            "",
        ),
        row(
            "unknown service",
            Call::Raw("/eventlog.v9.EventLog/Fetch", Bytes::new()),
            Unimplemented,
            "",
        ),
    ];

    let mut failures = Vec::new();
    for Row {
        name,
        call,
        code,
        message,
    } in rows
    {
        let outcome = run(&mut client, &raw, call).await;
        let (got, text) = match &outcome {
            Ok(summary) => (Code::Ok, summary.as_str()),
            Err(status) => (status.code(), status.message()),
        };
        if got != code || !text.contains(message.as_str()) {
            let shown: String = text.chars().take(300).collect();
            failures.push(format!(
                "{name}: expected {code:?} with {message:?}, got {got:?}: {shown}"
            ));
        }
    }
    assert!(failures.is_empty(), "rows failed:\n{}", failures.join("\n"));

    // A huge max_bytes is clamped to the fetch cap: no 4 GiB answer, no 4 GiB buffer.
    let reply = client
        .event_log
        .fetch(pb::FetchRequest {
            max_bytes: u32::MAX,
            max_records: u32::MAX,
            ..fetch("wide", 0, 0)
        })
        .await
        .expect("fetch with a huge max_bytes")
        .into_inner();
    let bytes: usize = reply
        .records
        .iter()
        .map(|r| r.value.as_ref().map_or(0, Bytes::len))
        .sum();
    assert!(!reply.records.is_empty());
    assert!(bytes <= MAX_FETCH_BYTES + MIB, "{bytes} bytes in one fetch");
    assert!(
        reply.next_offset < reply.high_watermark,
        "all 18 MiB returned"
    );

    // Still healthy, and a normal produce and fetch work.
    assert!(serving(&raw).await, "health is SERVING after the table");
    let appended = produce(&mut client, "bad", Some(1), vec![record(None, Some("ok"))]).await;
    let offset = appended.partitions[0].base_offset;
    let reply = client
        .event_log
        .fetch(fetch("bad", 1, offset))
        .await
        .expect("fetch after the table")
        .into_inner();
    assert_eq!(common::value_text(&reply.records[0]), "ok");
    server.stop().await;

    // Only what the valid requests made is in the data directory; nothing else changed.
    assert_eq!(names_in(&data_dir), ["LOCK", "groups", "topics"]);
    assert_eq!(
        common::topic_dir_entries(&data_dir),
        ["aged", "bad", "wide", "zero"]
    );
    assert_eq!(tree(parent.path(), &data_dir), outside_before);
}
