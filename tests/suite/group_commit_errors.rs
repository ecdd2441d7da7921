//! What a commit rejects, with which status code, and that a rejected commit stores
//! nothing (a request's partitions commit together or not at all).

use crate::common;

use common::{TestServer, commit, committed_offsets, create_topic, produce, record};
use eventlog::proto::v1 as pb;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_commits_are_rejected_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "ledger", 2).await;
    produce(
        &mut client,
        "ledger",
        Some(0),
        vec![record(None, Some("a")); 10],
    )
    .await;

    // Committing the high watermark itself is fine ("read everything").
    commit(&mut client, "g", "ledger", &[(0, 10)])
        .await
        .expect("commit at the end");

    // Beyond the end: OUT_OF_RANGE naming the valid range, and partition 1's part of the
    // same request is not stored either.
    let beyond = commit(&mut client, "g", "ledger", &[(1, 0), (0, 11)])
        .await
        .expect_err("beyond the end");
    assert_eq!(beyond.code(), Code::OutOfRange, "{beyond:?}");
    assert!(beyond.message().contains("0..=10"), "{}", beyond.message());
    assert_eq!(
        committed_offsets(&mut client, "g", "ledger").await,
        [Some(10), None]
    );

    let cases: [(&str, &str, u32, Code); 4] = [
        ("g", "nope", 0, Code::NotFound),
        ("g", "ledger", 2, Code::NotFound),
        ("", "ledger", 0, Code::InvalidArgument),
        (&"x".repeat(256), "ledger", 0, Code::InvalidArgument),
    ];
    for (group, topic, partition, code) in cases {
        let status = commit(&mut client, group, topic, &[(partition, 0)])
            .await
            .expect_err("rejected");
        assert_eq!(
            status.code(),
            code,
            "{group:.10} {topic}/{partition}: {status:?}"
        );
    }

    let metadata = pb::CommitOffsetsRequest {
        group: "g".into(),
        topic: "ledger".into(),
        offsets: vec![pb::OffsetCommit {
            partition: 0,
            next_offset: 1,
            metadata: "m".repeat(4097),
        }],
        ..Default::default()
    };
    let status = client.event_log.commit_offsets(metadata).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let empty = pb::CommitOffsetsRequest {
        group: "g".into(),
        topic: "ledger".into(),
        offsets: vec![],
        ..Default::default()
    };
    let status = client.event_log.commit_offsets(empty).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");

    // Unknown groups: NOT_FOUND for describe and delete.
    let status = client
        .admin
        .describe_group(pb::DescribeGroupRequest {
            group: "ghost".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = client
        .admin
        .delete_group(pb::DeleteGroupRequest {
            group: "ghost".into(),
            dry_run: false,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(
        committed_offsets(&mut client, "g", "ledger").await,
        [Some(10), None]
    );
    server.stop().await;
}
