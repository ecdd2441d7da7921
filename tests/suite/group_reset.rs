//! Resetting a group's offsets: by timestamp lands on the first record at or after the
//! time in every partition (the end where there is none); a dry run reports without
//! storing; earliest, latest and a clamped offset.

use crate::common;

use common::{TestServer, commit, committed_offsets, create_topic, produce};
use eventlog::client::Client;
use eventlog::proto::v1 as pb;
use eventlog::proto::v1::reset_group_offsets_request::To;

fn at(ms: i64) -> pb::Record {
    pb::Record {
        value: Some(bytes::Bytes::from(ms.to_string())),
        timestamp_ms: Some(ms),
        ..Default::default()
    }
}

async fn reset(client: &mut Client, to: To, dry_run: bool) -> pb::ResetGroupOffsetsResponse {
    client
        .admin
        .reset_group_offsets(pb::ResetGroupOffsetsRequest {
            group: "replay".into(),
            topic: "clicks".into(),
            partition: None,
            to: Some(to),
            dry_run,
        })
        .await
        .expect("reset")
        .into_inner()
}

fn next_offsets(reply: &pb::ResetGroupOffsetsResponse) -> Vec<u64> {
    reply.partitions.iter().map(|p| p.next_offset).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_by_timestamp_lands_on_the_right_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "clicks", 3).await;
    // Partition 0: times 1000..=1009; partition 1: 500, 1500, 2500; partition 2: 100, 200.
    produce(
        &mut client,
        "clicks",
        Some(0),
        (1000..1010).map(at).collect(),
    )
    .await;
    produce(
        &mut client,
        "clicks",
        Some(1),
        vec![at(500), at(1500), at(2500)],
    )
    .await;
    produce(&mut client, "clicks", Some(2), vec![at(100), at(200)]).await;
    commit(&mut client, "replay", "clicks", &[(0, 10), (1, 3), (2, 2)])
        .await
        .expect("commit");

    // A dry run reports the targets and the previous positions, and stores nothing.
    let dry = reset(&mut client, To::TimestampMs(1005), true).await;
    assert!(dry.dry_run);
    assert_eq!(next_offsets(&dry), [5, 1, 2]);
    let previous: Vec<Option<u64>> = dry
        .partitions
        .iter()
        .map(|p| p.previous_next_offset)
        .collect();
    assert_eq!(previous, [Some(10), Some(3), Some(2)]);
    assert_eq!(
        committed_offsets(&mut client, "replay", "clicks").await,
        [Some(10), Some(3), Some(2)]
    );

    // Applied: the first record at or after 1005 in each partition, the end where none.
    let applied = reset(&mut client, To::TimestampMs(1005), false).await;
    assert!(!applied.dry_run);
    assert_eq!(next_offsets(&applied), [5, 1, 2]);
    assert_eq!(
        committed_offsets(&mut client, "replay", "clicks").await,
        [Some(5), Some(1), Some(2)]
    );

    let earliest = reset(
        &mut client,
        To::Position(pb::StartPosition::Earliest.into()),
        false,
    )
    .await;
    assert_eq!(next_offsets(&earliest), [0, 0, 0]);
    let latest = reset(
        &mut client,
        To::Position(pb::StartPosition::Latest.into()),
        false,
    )
    .await;
    assert_eq!(next_offsets(&latest), [10, 3, 2]);
    // An offset is clamped into each partition's range.
    let offset = reset(&mut client, To::Offset(2), false).await;
    assert_eq!(next_offsets(&offset), [2, 2, 2]);
    assert_eq!(
        committed_offsets(&mut client, "replay", "clicks").await,
        [Some(2), Some(2), Some(2)]
    );
    server.stop().await;
}
