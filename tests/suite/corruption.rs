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

use crate::crash_support;
#[path = "corruption/damage.rs"]
mod damage;
#[path = "corruption/fixture.rs"]
mod fixture;
#[path = "corruption/read_back.rs"]
mod read_back;

use std::path::{Path, PathBuf};

use crash_support::ServerProcess;
use damage::*;
use eventlog::client::Client;
use eventlog::proto::v1 as pb;
use eventlog::service::status::NEXT_READABLE_METADATA;
use fixture::*;
use read_back::*;
use tonic::Code;

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
            ..Default::default()
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
