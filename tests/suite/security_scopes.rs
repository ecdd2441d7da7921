//! Token lines scoped to topic and group prefixes: a scoped token cannot name a topic
//! or group outside its prefixes through any RPC of the `.proto` files (the table below
//! must list every one), gets PERMISSION_DENIED naming the topic or group, changes
//! nothing, and sees only its own names in listings; names inside its prefixes work.

use crate::common;
use crate::security_support;

use common::{TestServer, commit, committed_offsets, create_topic, fetch_all, produce, record};
use eventlog::client::Client;
use eventlog::proto::methods::RPC_METHODS;
use eventlog::proto::v1 as pb;
use eventlog::service::ServerConfig;
use eventlog::service::tokens::TokenTable;
use security_support::{ADMIN_TOKEN, connect, with_token};
use tonic::{Code, Status};

/// Admin, but only over `team-a.` topics and groups.
const SCOPED_ADMIN: &str = "scoped-admin-5e1d7c9a3b2f4e60";
/// Consumer over `team-a.` topics and groups.
const SCOPED_CONSUMER: &str = "scoped-consumer-8a3c5e7f9b1d2c46";

async fn scoped_server(dir: &std::path::Path) -> TestServer {
    let text = format!(
        "{ADMIN_TOKEN}\n\
         {SCOPED_ADMIN} admin topic=team-a. group=team-a.\n\
         {SCOPED_CONSUMER} consumer topic=team-a. group=team-a.\n"
    );
    let path = dir.join("tokens");
    std::fs::write(&path, text).unwrap();
    let config = ServerConfig {
        auth: Some(TokenTable::load(&path).expect("token file")),
        ..ServerConfig::default()
    };
    TestServer::start_with(&dir.join("data"), config).await
}

/// Two teams' topics with a record each; `team-a.g` has read both, `team-b.g` its own.
async fn two_teams(admin: &mut Client) {
    for topic in ["team-a.orders", "team-b.orders", "team-a.doomed"] {
        create_topic(admin, topic, 1).await;
        produce(admin, topic, Some(0), vec![record(None, Some("v"))]).await;
    }
    for (group, topic) in [
        ("team-a.g", "team-a.orders"),
        ("team-a.g", "team-b.orders"),
        ("team-b.g", "team-b.orders"),
    ] {
        commit(admin, group, topic, &[(0, 1)])
            .await
            .expect("commit");
    }
}

/// Which names a method takes: (a topic, a group). Listings take none.
fn names_taken(method: &str) -> (bool, bool) {
    match method {
        "Produce" | "Fetch" | "ListOffsets" | "CreateTopic" | "DeleteTopic"
        | "UpdateTopicConfig" | "CompactTopic" | "DescribeTopic" | "CreatePartitions"
        | "ReassignPartition" => (true, false),
        "Subscribe"
        | "CommitOffsets"
        | "GetCommittedOffsets"
        | "ResetGroupOffsets"
        | "GroupSubscribe" => (true, true),
        "DescribeGroup" | "DeleteGroup" => (false, true),
        // An anonymous producer names nothing; a named one is checked below.
        "ListTopics" | "ListGroups" | "InitProducer" | "DescribeCluster" => (false, false),
        // Changing the cluster's nodes or leaders needs a token without prefixes
        // (checked below).
        "AddNode" | "RemoveNode" | "BalanceLeaders" => (false, false),
        other => panic!("{other}: add the new RPC to this table and check its scope"),
    }
}

/// Calls `method` naming `topic` and `group`; Ok holds the topic and group names the
/// reply shows. Group deletions and resets are dry runs, so a call inside the scope
/// leaves the groups for the next method.
async fn call(
    client: &mut Client,
    method: &str,
    topic: &str,
    group: &str,
) -> Result<Vec<String>, Status> {
    let (t, g) = (topic.to_string(), group.to_string());
    match method {
        "Produce" => client
            .event_log
            .produce(pb::ProduceRequest {
                topic: t,
                partition: Some(0),
                records: vec![record(None, Some("x"))],
                expected_next_offset: None,
                ..Default::default()
            })
            .await
            .map(none),
        "Fetch" => client
            .event_log
            .fetch(pb::FetchRequest {
                topic: t,
                ..Default::default()
            })
            .await
            .map(none),
        "Subscribe" => client
            .event_log
            .subscribe(common::group_subscribe_request(topic, group))
            .await
            .map(none),
        "ListOffsets" => client
            .event_log
            .list_offsets(pb::ListOffsetsRequest {
                topic: t,
                partition: Some(0),
                timestamp_ms: None,
            })
            .await
            .map(none),
        "CommitOffsets" => commit(client, group, topic, &[(0, 1)]).await.map(none),
        "GetCommittedOffsets" => client
            .event_log
            .get_committed_offsets(pb::GetCommittedOffsetsRequest { group: g, topic: t })
            .await
            .map(|r| topics_of(r.into_inner().partitions)),
        "CreateTopic" => client
            .admin
            .create_topic(pb::CreateTopicRequest {
                name: t,
                partitions: 1,
                replication_factor: 0,
                config: None,
            })
            .await
            .map(none),
        "DeleteTopic" => client
            .admin
            .delete_topic(pb::DeleteTopicRequest { name: t })
            .await
            .map(none),
        "UpdateTopicConfig" => client
            .admin
            .update_topic_config(pb::UpdateTopicConfigRequest {
                name: t,
                set: Some(pb::TopicConfig {
                    retention_ms: Some(3_600_000),
                    ..Default::default()
                }),
                reset: Vec::new(),
            })
            .await
            .map(none),
        // Validation only: a call inside the scope leaves the topic as it is.
        "CreatePartitions" => client
            .admin
            .create_partitions(pb::CreatePartitionsRequest {
                name: t,
                partitions: 2,
                validate_only: true,
            })
            .await
            .map(none),
        "CompactTopic" => client
            .admin
            .compact_topic(pb::CompactTopicRequest {
                name: t,
                dry_run: true,
            })
            .await
            .map(none),
        "ListTopics" => client
            .admin
            .list_topics(pb::ListTopicsRequest {})
            .await
            .map(|r| r.into_inner().topics.into_iter().map(|t| t.name).collect()),
        "DescribeTopic" => client
            .admin
            .describe_topic(pb::DescribeTopicRequest { name: t })
            .await
            .map(none),
        "ListGroups" => client
            .admin
            .list_groups(pb::ListGroupsRequest {})
            .await
            .map(|r| {
                let groups = r.into_inner().groups;
                groups
                    .into_iter()
                    .flat_map(|g| std::iter::once(g.group).chain(g.topics))
                    .collect()
            }),
        "DescribeGroup" => client
            .admin
            .describe_group(pb::DescribeGroupRequest { group: g })
            .await
            .map(|r| topics_of(r.into_inner().partitions)),
        "DeleteGroup" => client
            .admin
            .delete_group(pb::DeleteGroupRequest {
                group: g,
                dry_run: true,
            })
            .await
            .map(|r| topics_of(r.into_inner().partitions)),
        "ResetGroupOffsets" => client
            .admin
            .reset_group_offsets(pb::ResetGroupOffsetsRequest {
                group: g,
                topic: t,
                partition: None,
                to: Some(pb::reset_group_offsets_request::To::Offset(0)),
                dry_run: true,
            })
            .await
            .map(none),
        "InitProducer" => client
            .event_log
            .init_producer(pb::InitProducerRequest {
                producer_name: None,
            })
            .await
            .map(none),
        "DescribeCluster" => client
            .admin
            .describe_cluster(pb::DescribeClusterRequest {})
            .await
            .map(|r| {
                let reply = r.into_inner();
                reply.partitions.into_iter().map(|p| p.topic).collect()
            }),
        "GroupSubscribe" => group_subscribe(client, topic, group).await,
        "ReassignPartition" => client
            .admin
            .reassign_partition(pb::ReassignPartitionRequest {
                topic: t,
                partition: 0,
                replicas: vec![1],
            })
            .await
            .map(none),
        "AddNode" => client
            .admin
            .add_node(pb::AddNodeRequest {
                node_id: 2,
                address: "127.0.0.1:1".into(),
            })
            .await
            .map(none),
        "RemoveNode" => client
            .admin
            .remove_node(pb::RemoveNodeRequest { node_id: 2 })
            .await
            .map(none),
        "BalanceLeaders" => client
            .admin
            .balance_leaders(pb::BalanceLeadersRequest {})
            .await
            .map(|r| {
                r.into_inner()
                    .partitions
                    .into_iter()
                    .map(|p| p.topic)
                    .collect()
            }),
        other => panic!("{other}: add the new RPC to `call`"),
    }
}

/// Joins `group` for `topic` as a member, then leaves and waits until the group has no
/// members again (so the dry-run deletes and resets that follow are not refused).
async fn group_subscribe(
    client: &mut Client,
    topic: &str,
    group: &str,
) -> Result<Vec<String>, Status> {
    let join = pb::GroupSubscribeRequest {
        action: Some(pb::group_subscribe_request::Action::Join(pb::JoinGroup {
            group: group.into(),
            topics: vec![topic.into()],
            ..Default::default()
        })),
    };
    let mut stream = client
        .event_log
        .group_subscribe(tokio_stream::iter(vec![join]))
        .await?
        .into_inner();
    stream.message().await?;
    drop(stream);
    for _ in 0..200 {
        let described = client
            .admin
            .describe_group(pb::DescribeGroupRequest {
                group: group.into(),
            })
            .await;
        if described.is_ok_and(|d| d.into_inner().members.is_empty()) {
            return Ok(Vec::new());
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the member of {group} never left");
}

/// The topics of group positions.
fn topics_of(partitions: Vec<pb::GroupPartitionOffset>) -> Vec<String> {
    partitions.into_iter().map(|p| p.topic).collect()
}

/// A reply that shows no names.
fn none<T>(_: T) -> Vec<String> {
    Vec::new()
}

fn assert_denied(result: Result<Vec<String>, Status>, what: &str, rpc: &str) {
    let status = result
        .err()
        .unwrap_or_else(|| panic!("{rpc}: {what} was allowed"));
    assert_eq!(status.code(), Code::PermissionDenied, "{rpc}: {status:?}");
    assert!(status.message().contains(what), "{rpc}: {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_token_cannot_name_another_prefix_through_any_rpc() {
    let dir = tempfile::tempdir().unwrap();
    let server = scoped_server(dir.path()).await;
    let mut admin = connect(&server.url(), &with_token(ADMIN_TOKEN)).await;
    two_teams(&mut admin).await;
    let mut scoped = connect(&server.url(), &with_token(SCOPED_ADMIN)).await;

    // Client services only: node-to-node traffic (`eventlog.cluster.v1`) names no topic.
    let methods = RPC_METHODS
        .iter()
        .filter(|(service, _)| service.starts_with("eventlog.v1."))
        .flat_map(|(_, methods)| methods.iter());
    for method in methods.clone() {
        let (takes_topic, takes_group) = names_taken(method);
        if takes_topic {
            let outside = call(&mut scoped, method, "team-b.orders", "team-a.g").await;
            assert_denied(outside, "topic \"team-b.orders\"", method);
        }
        if takes_group {
            let outside = call(&mut scoped, method, "team-a.orders", "team-b.g").await;
            assert_denied(outside, "group \"team-b.g\"", method);
        }
    }
    // Inside the prefixes every method works, and replies show only team-a's names.
    for method in methods {
        let topic = match *method {
            "DeleteTopic" => "team-a.doomed",
            _ => "team-a.orders",
        };
        match call(&mut scoped, method, topic, "team-a.g").await {
            Err(status) if matches!(*method, "AddNode" | "RemoveNode" | "BalanceLeaders") => {
                assert_eq!(
                    status.code(),
                    Code::PermissionDenied,
                    "{method}: {status:?}"
                );
                assert!(
                    status.message().contains("not limited"),
                    "{method}: {status:?}"
                );
            }
            Ok(names) => assert!(
                names.iter().all(|n| n.starts_with("team-a.")),
                "{method}: {names:?}"
            ),
            // Creating an existing topic, or compacting one that is not compact.
            Err(status) => assert!(
                matches!(
                    status.code(),
                    Code::AlreadyExists | Code::FailedPrecondition
                ),
                "{method}: {status:?}"
            ),
        }
    }
    // The scoped line has no producer= field: it may initialise no producer name.
    let named = scoped
        .event_log
        .init_producer(pb::InitProducerRequest {
            producer_name: Some("team-b.billing".into()),
        })
        .await;
    assert_denied(
        named.map(none),
        "producer name \"team-b.billing\"",
        "InitProducer",
    );
    let listed = call(&mut scoped, "ListGroups", "", "").await.unwrap();
    assert_eq!(listed, ["team-a.g", "team-a.orders"]);

    // Nothing outside was touched.
    assert_eq!(fetch_all(&mut admin, "team-b.orders", 0, 0).await.len(), 1);
    assert_eq!(
        committed_offsets(&mut admin, "team-b.g", "team-b.orders").await,
        [Some(1)]
    );
    assert_eq!(
        committed_offsets(&mut admin, "team-a.g", "team-b.orders").await,
        [Some(1)]
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_consumer_keeps_only_its_own_groups() {
    let dir = tempfile::tempdir().unwrap();
    let server = scoped_server(dir.path()).await;
    let mut admin = connect(&server.url(), &with_token(ADMIN_TOKEN)).await;
    two_teams(&mut admin).await;
    let mut consumer = connect(&server.url(), &with_token(SCOPED_CONSUMER)).await;

    assert_eq!(
        fetch_all(&mut consumer, "team-a.orders", 0, 0).await.len(),
        1
    );
    commit(&mut consumer, "team-a.app", "team-a.orders", &[(0, 1)])
        .await
        .expect("its own group");
    for method in [
        "CommitOffsets",
        "GetCommittedOffsets",
        "Subscribe",
        "DescribeGroup",
    ] {
        let other = call(&mut consumer, method, "team-a.orders", "team-b.g").await;
        assert_denied(other, "group \"team-b.g\"", method);
    }
    let other = call(&mut consumer, "Fetch", "team-b.orders", "").await;
    assert_denied(other, "topic \"team-b.orders\"", "Fetch");
    // The role still applies inside the prefixes.
    let reset = call(
        &mut consumer,
        "ResetGroupOffsets",
        "team-a.orders",
        "team-a.app",
    )
    .await;
    assert_eq!(reset.unwrap_err().code(), Code::PermissionDenied);
    assert_eq!(
        committed_offsets(&mut admin, "team-b.g", "team-b.orders").await,
        [Some(1)]
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_token_sees_no_member_assignment_outside_its_topics() {
    let dir = tempfile::tempdir().unwrap();
    let server = scoped_server(dir.path()).await;
    let mut admin = connect(&server.url(), &with_token(ADMIN_TOKEN)).await;
    two_teams(&mut admin).await;
    // A member of a team-a group reading a team-b topic (the admin token may).
    let join = pb::GroupSubscribeRequest {
        action: Some(pb::group_subscribe_request::Action::Join(pb::JoinGroup {
            group: "team-a.mixed".into(),
            topics: vec!["team-a.orders".into(), "team-b.orders".into()],
            ..Default::default()
        })),
    };
    let (requests, incoming) = tokio::sync::mpsc::channel(1);
    requests.send(join).await.unwrap();
    let mut stream = admin
        .event_log
        .group_subscribe(tokio_stream::wrappers::ReceiverStream::new(incoming))
        .await
        .unwrap()
        .into_inner();
    stream.message().await.unwrap();
    let request = pb::DescribeGroupRequest {
        group: "team-a.mixed".into(),
    };
    let full = admin.admin.describe_group(request.clone()).await.unwrap();
    let topics = |d: &pb::DescribeGroupResponse| -> Vec<String> {
        d.members
            .iter()
            .flat_map(|m| m.assigned.iter().chain(&m.revoking))
            .map(|t| t.topic.clone())
            .collect()
    };
    assert_eq!(topics(full.get_ref()), ["team-a.orders", "team-b.orders"]);
    let mut scoped = connect(&server.url(), &with_token(SCOPED_ADMIN)).await;
    let seen = scoped.admin.describe_group(request).await.unwrap();
    assert_eq!(seen.get_ref().members.len(), 1);
    assert_eq!(topics(seen.get_ref()), ["team-a.orders"]);
    drop((requests, stream));
    server.stop().await;
}
