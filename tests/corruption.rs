//! Corruption of a stopped server's data directory, one kind of damage per case, each on
//! its own copy of one written directory: a flipped bit in a batch in the middle of a
//! sealed segment, a zeroed range, a sealed segment truncated in the middle, an index
//! with flipped bits, zeroed or truncated, and the consumer-group offsets log damaged.
//!
//! In every case the server starts, reports the damage in its log with the file and byte
//! position, serves every good record with identical bytes (readers step over the
//! damage with the `eventlog-next-readable-offset` trailer of DATA_LOSS), rebuilds a
//! damaged index without losing a record, and `eventlog verify` names the file and
//! position and exits non-zero (zero on the undamaged directory).

mod crash_support;

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use bytes::Bytes;
use crash_support::{Content, ServerProcess, content_of, to_wire};
use eventlog::client::Client;
use eventlog::proto::v1 as pb;
use eventlog::service::status::NEXT_READABLE_METADATA;
use eventlog::storage::verify::{WalkEvent, walk};
use tonic::Code;

const TOPIC: &str = "orders";
const PARTITIONS: u32 = 2;
const GROUP: &str = "audit";
/// Produce requests per partition: about 3.6 MiB, so several 1 MiB segments seal.
const BATCHES: u64 = 60;

/// The undamaged directory and what was acknowledged into it.
struct Fixture {
    _dir: tempfile::TempDir,
    data: PathBuf,
    records: BTreeMap<(u32, u64), Content>,
    commits: BTreeMap<u32, u64>,
}

/// A batch as found in a segment file.
#[derive(Debug, Clone, Copy)]
struct BatchAt {
    position: u64,
    length: u64,
    first: u64,
    last: u64,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        // Built on its own runtime: every test has its own, and any may come first.
        std::thread::spawn(|| {
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(build_fixture())
        })
        .join()
        .expect("building the fixture")
    })
}

async fn build_fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = ServerProcess::start(&data, "always").expect("start");
    let mut client = Client::connect(&server.url).await.expect("connect");
    client
        .admin
        .create_topic(pb::CreateTopicRequest {
            name: TOPIC.into(),
            partitions: PARTITIONS,
            config: Some(pb::TopicConfig {
                segment_bytes: Some(1 << 20),
                ..Default::default()
            }),
        })
        .await
        .expect("create topic");
    let mut records = BTreeMap::new();
    let mut commits = BTreeMap::new();
    for batch in 0..BATCHES {
        for partition in 0..PARTITIONS {
            let contents: Vec<Content> = (0..10u64)
                .map(|i| {
                    let n = batch * 10 + i;
                    let len = 3000 + (n * 611 % 6000) as usize;
                    let value: Vec<u8> = (0..len).map(|j| (j as u64 ^ n) as u8).collect();
                    let headers = if n % 3 == 0 {
                        vec![("n".to_string(), Bytes::from(n.to_string()))]
                    } else {
                        Vec::new()
                    };
                    (
                        Some(Bytes::from(format!("key-{}", n % 17))),
                        Some(Bytes::from(value)),
                        headers,
                    )
                })
                .collect();
            let reply = client
                .event_log
                .produce(pb::ProduceRequest {
                    topic: TOPIC.into(),
                    partition: Some(partition),
                    records: contents.iter().map(to_wire).collect(),
                    expected_next_offset: None,
                })
                .await
                .expect("produce")
                .into_inner();
            let base = reply.partitions[0].base_offset;
            for (i, content) in contents.into_iter().enumerate() {
                records.insert((partition, base + i as u64), content);
            }
            // One commit batch per produce: the offsets log gets many batches.
            let next = base + 10;
            client
                .commit_offsets(GROUP, TOPIC, &[(partition, next)])
                .await
                .expect("commit");
            commits.insert(partition, next);
        }
    }
    // Closed first: an open connection would hold up the server's graceful shutdown.
    drop(client);
    tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
    Fixture {
        _dir: dir,
        data,
        records,
        commits,
    }
}

/// A fresh copy of the fixture's data directory to damage.
fn damaged_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    copy_dir(&fixture().data, &data);
    (dir, data)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn partition_dir(data: &Path, partition: u32) -> PathBuf {
    data.join("topics").join(TOPIC).join(partition.to_string())
}

/// Segment files of a partition directory in base-offset order.
fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    found.sort();
    found
}

/// The batches of a segment file, in order.
fn batches(segment: &Path) -> Vec<BatchAt> {
    let mut found = Vec::new();
    walk(segment, &mut |event| {
        if let WalkEvent::Batch {
            position, header, ..
        } = event
        {
            found.push(BatchAt {
                position,
                length: u64::from(header.length),
                first: header.base_offset,
                last: header.last_offset(),
            });
        }
    })
    .unwrap();
    found
}

fn flip_bit(path: &Path, position: u64) {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, position).unwrap();
    file.write_all_at(&[byte[0] ^ 0x10], position).unwrap();
}

fn zero_range(path: &Path, from: u64, to: u64) {
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(&vec![0u8; (to - from) as usize], from)
        .unwrap();
}

fn truncate(path: &Path, len: u64) {
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.set_len(len).unwrap();
}

/// `eventlog verify` on `data`: (success, stdout).
fn verify(data: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_eventlog"))
        .arg("verify")
        .arg("--data-dir")
        .arg(data)
        .output()
        .expect("run eventlog verify");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (out.status.success(), format!("{stdout}{stderr}"))
}

/// Asserts that verify fails with an error line naming `path` at byte `position`.
fn assert_verify_finds(data: &Path, path: &Path, position: u64) {
    let (ok, out) = verify(data);
    assert!(!ok, "verify passed damaged data:\n{out}");
    let wanted = format!("error: {} at byte {position}:", path.display());
    assert!(
        out.lines().any(|l| l.starts_with(&wanted)),
        "no line starting with {wanted:?} in:\n{out}"
    );
}

/// Whether the server logged, at WARN or ERROR, a line naming `path` and `position`.
fn logged(logs: &[serde_json::Value], path: &Path, position: Option<u64>) -> bool {
    let path = path.display().to_string();
    logs.iter().any(|line| {
        let level = line["level"].as_str().unwrap_or_default();
        let fields = &line["fields"];
        let names_file = fields
            .as_object()
            .is_some_and(|f| f.values().any(|v| v.as_str() == Some(path.as_str())));
        let at = position.is_none_or(|p| fields["position"].as_u64() == Some(p));
        (level == "WARN" || level == "ERROR") && names_file && at
    })
}

/// What reading a partition from its start found: the records, and every DATA_LOSS met
/// on the way as (offset asked, next readable offset, message).
struct ReadBack {
    records: Vec<pb::StoredRecord>,
    skips: Vec<(u64, u64, String)>,
}

/// Reads a whole partition with Fetch, stepping over damage as a client would.
async fn read_back(client: &mut Client, partition: u32) -> ReadBack {
    let mut back = ReadBack {
        records: Vec::new(),
        skips: Vec::new(),
    };
    let mut offset = 0;
    loop {
        let reply = client
            .event_log
            .fetch(pb::FetchRequest {
                topic: TOPIC.into(),
                partition,
                offset,
                max_records: 0,
                max_bytes: 4 << 20,
                max_wait_ms: 0,
            })
            .await;
        match reply {
            Ok(reply) => {
                let reply = reply.into_inner();
                back.records.extend(reply.records);
                if reply.next_offset >= reply.high_watermark {
                    return back;
                }
                offset = reply.next_offset;
            }
            Err(status) if status.code() == Code::DataLoss => {
                let next: u64 = status
                    .metadata()
                    .get(NEXT_READABLE_METADATA)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| {
                        panic!("DATA_LOSS without a next readable offset: {status:?}")
                    });
                assert!(next > offset, "{status:?}");
                back.skips
                    .push((offset, next, status.message().to_string()));
                offset = next;
            }
            Err(status) => panic!("fetch {partition}@{offset}: {status:?}"),
        }
    }
}

/// Checks that `back` holds every acknowledged record of `partition` except those in
/// `lost` (an offset range), byte for byte, and returns it for further checks.
fn assert_all_good_records(back: &ReadBack, partition: u32, lost: std::ops::Range<u64>) {
    let expected: Vec<(u64, &Content)> = fixture()
        .records
        .range((partition, 0)..(partition + 1, 0))
        .map(|((_, offset), content)| (*offset, content))
        .filter(|(offset, _)| !lost.contains(offset))
        .collect();
    let got: Vec<(u64, Content)> = back
        .records
        .iter()
        .map(|r| (r.offset, content_of(r)))
        .collect();
    assert_eq!(
        got.len(),
        expected.len(),
        "records read back (lost {lost:?})"
    );
    for ((offset, content), (want_offset, want)) in got.iter().zip(&expected) {
        assert_eq!(offset, want_offset, "offsets read back (lost {lost:?})");
        assert!(
            content == *want,
            "{partition}@{offset} differs from what was acknowledged"
        );
    }
}

/// What a server on a damaged copy showed.
struct Served {
    /// Every partition read back from its start.
    backs: Vec<ReadBack>,
    /// The group's committed next offsets by partition.
    committed: BTreeMap<u32, u64>,
    /// Log lines up to the end of the startup scrub, before any read.
    startup: Vec<serde_json::Value>,
    /// Every log line up to the stop.
    logs: Vec<serde_json::Value>,
}

/// Starts the server on a damaged copy (it must start), waits for its startup scrub of
/// sealed segments, reads everything back, and stops it.
async fn serve_and_read(data: &Path) -> Served {
    let server = ServerProcess::start(data, "always").unwrap_or_else(|failed| {
        panic!("server did not start on damaged data:\n{}", failed.stderr)
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let startup = loop {
        let logs = server.logs();
        if logs
            .iter()
            .any(|l| l["fields"]["message"] == "sealed segments scrubbed")
        {
            break logs;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no scrub summary: {logs:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let mut client = Client::connect(&server.url).await.expect("connect");
    let mut backs = Vec::new();
    for partition in 0..PARTITIONS {
        backs.push(read_back(&mut client, partition).await);
    }
    let committed = client
        .event_log
        .get_committed_offsets(pb::GetCommittedOffsetsRequest {
            group: GROUP.into(),
            topic: TOPIC.into(),
        })
        .await
        .expect("committed offsets")
        .into_inner()
        .partitions
        .iter()
        .filter_map(|p| Some((p.partition, p.next_offset?)))
        .collect();
    // Closed first: an open connection would hold up the server's graceful shutdown.
    drop(client);
    // Stopped off the runtime, which must stay free to close the dropped connection.
    let logs = tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
    Served {
        backs,
        committed,
        startup,
        logs,
    }
}

#[tokio::test]
async fn the_undamaged_directory_verifies_clean_and_reads_whole() {
    let (_dir, data) = damaged_copy();
    let (ok, out) = verify(&data);
    assert!(ok, "{out}");
    assert!(out.contains("0 errors"), "{out}");
    assert!(
        segments(&partition_dir(&data, 0)).len() >= 3,
        "several segments per partition"
    );
    let served = serve_and_read(&data).await;
    for (partition, back) in served.backs.iter().enumerate() {
        assert!(back.skips.is_empty());
        assert_all_good_records(back, partition as u32, 0..0);
    }
    assert_eq!(served.committed, fixture().commits);
    let logs = served.logs;
    assert!(
        !logs
            .iter()
            .any(|l| l["level"] == "ERROR" || l["level"] == "WARN"),
        "{logs:?}"
    );
}

#[tokio::test]
async fn a_flipped_bit_in_a_sealed_segment_loses_only_its_batch() {
    let (_dir, data) = damaged_copy();
    let segment = segments(&partition_dir(&data, 0))[0].clone();
    let all = batches(&segment);
    let victim = all[all.len() / 2];
    flip_bit(&segment, victim.position + victim.length / 2);
    assert_verify_finds(&data, &segment, victim.position);

    let served = serve_and_read(&data).await;
    // Reported by the startup scrub, before any reader came near it.
    assert!(
        logged(&served.startup, &segment, Some(victim.position)),
        "{:?}",
        served.startup
    );
    let backs = &served.backs;
    assert_all_good_records(&backs[0], 0, victim.first..victim.last + 1);
    assert_all_good_records(&backs[1], 1, 0..0);
    assert_eq!(backs[0].skips.len(), 1);
    let (asked, next, message) = &backs[0].skips[0];
    assert_eq!((*asked, *next), (victim.first, victim.last + 1));
    assert!(
        message.contains(&format!(
            "{} at position {}",
            segment.display(),
            victim.position
        )),
        "{message}"
    );
    assert_eq!(served.committed, fixture().commits);
}

#[tokio::test]
async fn a_zeroed_range_loses_only_the_batches_it_covers() {
    let (_dir, data) = damaged_copy();
    let segment = segments(&partition_dir(&data, 1))[1].clone();
    let all = batches(&segment);
    let (first, second) = (all[all.len() / 2 - 1], all[all.len() / 2]);
    // From the middle of one batch to the middle of the next.
    zero_range(
        &segment,
        first.position + first.length / 2,
        second.position + second.length / 2,
    );
    assert_verify_finds(&data, &segment, first.position);

    let served = serve_and_read(&data).await;
    assert!(
        logged(&served.startup, &segment, Some(first.position)),
        "{:?}",
        served.startup
    );
    let backs = &served.backs;
    assert_all_good_records(&backs[0], 0, 0..0);
    assert_all_good_records(&backs[1], 1, first.first..second.last + 1);
    assert_eq!(backs[1].skips.len(), 1);
    assert_eq!(backs[1].skips[0].1, second.last + 1);
}

#[tokio::test]
async fn a_sealed_segment_truncated_in_the_middle_loses_only_its_tail() {
    let (_dir, data) = damaged_copy();
    let all_segments = segments(&partition_dir(&data, 0));
    let segment = all_segments[1].clone();
    let all = batches(&segment);
    let victim = all[all.len() / 2];
    let segment_end = all.last().unwrap().last + 1;
    truncate(&segment, victim.position + victim.length / 2);
    assert_verify_finds(&data, &segment, victim.position);

    let served = serve_and_read(&data).await;
    assert!(
        logged(&served.startup, &segment, Some(victim.position)),
        "{:?}",
        served.startup
    );
    let backs = &served.backs;
    assert_all_good_records(&backs[0], 0, victim.first..segment_end);
    assert_all_good_records(&backs[1], 1, 0..0);
    assert_eq!(backs[0].skips.len(), 1);
    assert_eq!(
        backs[0].skips[0].1, segment_end,
        "reading resumes in the next segment"
    );
}

/// Damages the first index of partition 0 with `damage`, then checks verify reports it,
/// the server rebuilds it without losing a record, and the rebuilt index verifies clean.
async fn index_case(damage: impl FnOnce(&Path, u64)) {
    let (_dir, data) = damaged_copy();
    let segment = segments(&partition_dir(&data, 0))[0].clone();
    let index = segment.with_extension("index");
    let len = std::fs::metadata(&index).unwrap().len();
    assert!(
        len > 16 + 32,
        "the index has entries to damage ({len} bytes)"
    );
    damage(&index, len);
    let (ok, out) = verify(&data);
    assert!(!ok, "verify passed a damaged index:\n{out}");
    let wanted = format!("error: {} at byte ", index.display());
    assert!(
        out.lines().any(|l| l.starts_with(&wanted)),
        "no {wanted:?} in:\n{out}"
    );

    let served = serve_and_read(&data).await;
    for (partition, back) in served.backs.iter().enumerate() {
        assert!(back.skips.is_empty(), "{:?}", back.skips);
        assert_all_good_records(back, partition as u32, 0..0);
    }
    assert_eq!(served.committed, fixture().commits);
    assert!(logged(&served.logs, &index, None), "{:?}", served.logs);
    let (ok, out) = verify(&data);
    assert!(ok, "the rebuilt index still fails verify:\n{out}");
}

#[tokio::test]
async fn an_index_with_a_flipped_bit_is_rebuilt() {
    index_case(|index, len| flip_bit(index, 16 + (len - 16) / 2)).await;
}

#[tokio::test]
async fn a_zeroed_index_is_rebuilt() {
    index_case(|index, len| zero_range(index, 16, len)).await;
}

#[tokio::test]
async fn a_truncated_index_is_rebuilt() {
    // A whole number of entries cut: only the entry count gives it away.
    index_case(|index, len| truncate(index, len - 16)).await;
}

#[tokio::test]
async fn an_index_cut_mid_entry_is_rebuilt() {
    index_case(|index, len| truncate(index, len - 5)).await;
}

fn groups_segment(data: &Path) -> PathBuf {
    segments(&data.join("groups"))[0].clone()
}

#[tokio::test]
async fn a_flipped_bit_in_the_offsets_log_loses_only_that_commit() {
    let (_dir, data) = damaged_copy();
    let segment = groups_segment(&data);
    let all = batches(&segment);
    assert!(all.len() >= 100, "one commit batch per produce");
    let victim = all[all.len() / 2];
    flip_bit(&segment, victim.position + victim.length / 2);
    assert_verify_finds(&data, &segment, victim.position);

    let served = serve_and_read(&data).await;
    for (partition, back) in served.backs.iter().enumerate() {
        assert_all_good_records(back, partition as u32, 0..0);
    }
    // Later commits of the same partitions supersede the lost one.
    assert_eq!(served.committed, fixture().commits);
    assert!(
        logged(&served.startup, &segment, Some(victim.position)),
        "{:?}",
        served.startup
    );
}

#[tokio::test]
async fn a_zeroed_range_in_the_offsets_log_keeps_the_later_commits() {
    let (_dir, data) = damaged_copy();
    let segment = groups_segment(&data);
    let all = batches(&segment);
    let (first, last) = (all[10], all[20]);
    zero_range(
        &segment,
        first.position + 3,
        last.position + last.length - 3,
    );
    assert_verify_finds(&data, &segment, first.position);

    let served = serve_and_read(&data).await;
    assert_eq!(served.committed, fixture().commits);
    assert!(
        logged(&served.startup, &segment, Some(first.position)),
        "{:?}",
        served.startup
    );
}

#[tokio::test]
async fn an_offsets_log_truncated_in_the_middle_keeps_the_commits_before_the_cut() {
    let (_dir, data) = damaged_copy();
    let segment = groups_segment(&data);
    let all = batches(&segment);
    let victim = all[all.len() / 2];
    truncate(&segment, victim.position + victim.length / 2);
    // The offsets log has one active segment: a cut in its middle looks exactly like the
    // torn tail a crash leaves, so verify warns (with the place) instead of failing.
    let (ok, out) = verify(&data);
    assert!(ok, "{out}");
    let wanted = format!(
        "warning: {} at byte {}:",
        segment.display(),
        victim.position
    );
    assert!(
        out.lines().any(|l| l.starts_with(&wanted)),
        "no {wanted:?} in:\n{out}"
    );

    let Served {
        committed, logs, ..
    } = serve_and_read(&data).await;
    // Each commit batch holds one partition's commit: the last whole batch before the cut
    // of each partition is what survives.
    let cut_batches = all.iter().filter(|b| b.position < victim.position).count() as u64;
    for (partition, next) in &committed {
        // Batch i (from 0) commits partition i % 2 at 10 * (i / 2 + 1).
        let last_batch = (0..cut_batches)
            .rev()
            .find(|i| (*i % u64::from(PARTITIONS)) as u32 == *partition)
            .unwrap();
        assert_eq!(
            *next,
            10 * (last_batch / u64::from(PARTITIONS) + 1),
            "partition {partition}"
        );
    }
    assert_eq!(committed.len(), PARTITIONS as usize);
    let cut = logs.iter().any(|l| {
        l["fields"]["message"] == "cutting torn tail"
            && l["fields"]["segment"].as_str() == Some(segment.display().to_string().as_str())
            && l["fields"]["position"].as_u64() == Some(victim.position)
    });
    assert!(cut, "{logs:?}");
}

#[tokio::test]
async fn subscribe_ends_with_data_loss_naming_where_to_resume() {
    let (_dir, data) = damaged_copy();
    let segment = segments(&partition_dir(&data, 0))[0].clone();
    let all = batches(&segment);
    let victim = all[all.len() / 2];
    flip_bit(&segment, victim.position + 20);
    let server = ServerProcess::start(&data, "always").expect("start");
    let mut client = Client::connect(&server.url).await.expect("connect");
    let mut stream = client
        .event_log
        .subscribe(pb::SubscribeRequest {
            topic: TOPIC.into(),
            partition: Some(0),
            start: Some(pb::subscribe_request::Start::Offset(0)),
            max_records_per_message: 0,
            reset: pb::StartPosition::Unspecified.into(),
            auto_commit_interval_ms: None,
        })
        .await
        .expect("subscribe")
        .into_inner();
    let mut received = Vec::new();
    let status = loop {
        match stream.message().await {
            Ok(Some(message)) => received.extend(message.records.into_iter().map(|r| r.offset)),
            Ok(None) => panic!("the stream ended without an error"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::DataLoss, "{status:?}");
    assert_eq!(received, (0..victim.first).collect::<Vec<_>>());
    let next = status
        .metadata()
        .get(NEXT_READABLE_METADATA)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    assert_eq!(next, Some(victim.last + 1));
    drop((stream, client));
    tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
}
