//! Two groups on one topic keep their own positions; listing, describing and deleting
//! one group leaves the other alone; deleting the topic removes its commits from every
//! group, so a re-created topic of the same name starts with none.

use crate::common;

use common::{TestServer, commit, committed_offsets, create_topic, produce, record};
use eventlog::proto::v1 as pb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_are_independent_and_topic_deletion_removes_commits() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "orders", 2).await;
    create_topic(&mut client, "refunds", 1).await;
    for partition in 0..2 {
        produce(
            &mut client,
            "orders",
            Some(partition),
            vec![record(None, Some("o")); 8],
        )
        .await;
    }
    produce(
        &mut client,
        "refunds",
        Some(0),
        vec![record(None, Some("r")); 4],
    )
    .await;

    commit(&mut client, "billing", "orders", &[(0, 2), (1, 8)])
        .await
        .unwrap();
    commit(&mut client, "shipping", "orders", &[(0, 7)])
        .await
        .unwrap();
    commit(&mut client, "billing", "refunds", &[(0, 1)])
        .await
        .unwrap();
    assert_eq!(
        committed_offsets(&mut client, "billing", "orders").await,
        [Some(2), Some(8)]
    );
    assert_eq!(
        committed_offsets(&mut client, "shipping", "orders").await,
        [Some(7), None]
    );

    let listed = client
        .admin
        .list_groups(pb::ListGroupsRequest {})
        .await
        .unwrap()
        .into_inner()
        .groups;
    let summary: Vec<(&str, Vec<&str>)> = listed
        .iter()
        .map(|g| {
            (
                g.group.as_str(),
                g.topics.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("billing", vec!["orders", "refunds"]),
            ("shipping", vec!["orders"])
        ]
    );

    let described = client
        .admin
        .describe_group(pb::DescribeGroupRequest {
            group: "billing".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .partitions;
    let rows: Vec<(&str, u32, Option<u64>, u64)> = described
        .iter()
        .map(|p| (p.topic.as_str(), p.partition, p.next_offset, p.lag))
        .collect();
    assert_eq!(
        rows,
        [
            ("orders", 0, Some(2), 6),
            ("orders", 1, Some(8), 0),
            ("refunds", 0, Some(1), 3)
        ]
    );

    // A dry-run delete reports and keeps; a real one removes only that group.
    let dry = client
        .admin
        .delete_group(pb::DeleteGroupRequest {
            group: "shipping".into(),
            dry_run: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dry.partitions.len(), 1);
    assert_eq!(
        committed_offsets(&mut client, "shipping", "orders").await,
        [Some(7), None]
    );
    client
        .admin
        .delete_group(pb::DeleteGroupRequest {
            group: "shipping".into(),
            dry_run: false,
        })
        .await
        .unwrap();
    assert_eq!(
        committed_offsets(&mut client, "shipping", "orders").await,
        [None, None]
    );
    assert_eq!(
        committed_offsets(&mut client, "billing", "orders").await,
        [Some(2), Some(8)]
    );

    // Deleting a topic removes its commits from every group, durably.
    client
        .admin
        .delete_topic(pb::DeleteTopicRequest {
            name: "orders".into(),
        })
        .await
        .unwrap();
    server.stop().await;
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "orders", 2).await;
    assert_eq!(
        committed_offsets(&mut client, "billing", "orders").await,
        [None, None]
    );
    assert_eq!(
        committed_offsets(&mut client, "billing", "refunds").await,
        [Some(1)]
    );
    server.stop().await;
}
