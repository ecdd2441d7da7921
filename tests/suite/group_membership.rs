//! Consumer-group members sharing a topic's partitions over `GroupSubscribe`: every
//! partition assigned exactly once, sticky moves on a join, a dropped and a hung member
//! replaced within the session timeout with processing resumed from the commits, no
//! partition processed by two members at once (a ledger of processing intervals), and
//! zombie commits refused.

use crate::common;
use crate::membership_support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::{TestServer, committed_offsets, create_topic, produce, record};
use eventlog::client::group_member::{GroupMember, MemberError, MemberEvent, MemberOptions};
use eventlog::proto::v1 as pb;
use membership_support::{Ledger, Mode, describe, spawn_member, wait_settled, wait_until};

const TOPIC: &str = "work";
const GROUP: &str = "workers";

fn options(session_ms: u64) -> MemberOptions {
    MemberOptions {
        group: GROUP.into(),
        topics: vec![TOPIC.into()],
        session_timeout: Some(Duration::from_millis(session_ms)),
        ..MemberOptions::default()
    }
}

/// Produces `per_partition` records to each of 6 partitions, values `{tag}-{p}-{i}`.
async fn produce_round(
    client: &mut eventlog::client::Client,
    tag: &str,
    per_partition: u32,
) -> Vec<String> {
    let mut values = Vec::new();
    for p in 0..6 {
        let batch: Vec<String> = (0..per_partition)
            .map(|i| format!("{tag}-{p}-{i}"))
            .collect();
        let records = batch.iter().map(|v| record(None, Some(v))).collect();
        produce(client, TOPIC, Some(p), records).await;
        values.extend(batch);
    }
    values
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_split_six_partitions_and_a_fourth_moves_only_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, TOPIC, 6).await;
    let ledger = Arc::new(Ledger::default());
    let mut members = Vec::new();
    for name in ["a", "b", "c"] {
        members.push(spawn_member(&server.url(), name, options(10_000), Arc::clone(&ledger)).await);
    }
    let before = wait_settled(&mut client, GROUP, 3, 6).await;
    let union: BTreeSet<_> = before.values().flatten().cloned().collect();
    assert_eq!(union.len(), 6, "each partition exactly once: {before:?}");
    assert!(before.values().all(|set| set.len() == 2), "{before:?}");
    let d = describe(&mut client, GROUP).await;
    assert_eq!(d.strategy, "sticky", "the default strategy");
    assert!(
        d.members
            .iter()
            .all(|m| !m.client_address.is_empty() && m.joined_at_ms > 0)
    );
    assert_eq!(
        d.partitions.len(),
        6,
        "lag of every partition of the group's topics"
    );

    members.push(spawn_member(&server.url(), "d", options(10_000), Arc::clone(&ledger)).await);
    let after = wait_settled(&mut client, GROUP, 4, 6).await;
    let moved: usize = before
        .iter()
        .map(|(id, set)| set.difference(&after[id]).count())
        .sum();
    assert_eq!(
        moved, 1,
        "sticky moves one partition to the new member: {before:?} -> {after:?}"
    );
    let union: BTreeSet<_> = after.values().flatten().cloned().collect();
    assert_eq!(union.len(), 6, "{after:?}");
    for m in members {
        m.task.abort();
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_and_hung_members_are_replaced_and_work_resumes_from_the_commits() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, TOPIC, 6).await;
    let ledger = Arc::new(Ledger::default());
    let mut expected: BTreeSet<String> = produce_round(&mut client, "one", 40)
        .await
        .into_iter()
        .collect();
    let session_ms = 1500;
    let mut members = Vec::new();
    for name in ["a", "b", "c", "d"] {
        members.push(
            spawn_member(
                &server.url(),
                name,
                options(session_ms),
                Arc::clone(&ledger),
            )
            .await,
        );
    }
    let processed_all = |ledger: Arc<Ledger>, expected: BTreeSet<String>| async move {
        let processed = ledger.processed();
        expected.iter().all(|v| processed.contains_key(v))
    };
    wait_until("the first round is processed", || {
        processed_all(Arc::clone(&ledger), expected.clone())
    })
    .await;
    wait_settled(&mut client, GROUP, 4, 6).await;
    let generation = describe(&mut client, GROUP).await.generation;

    // d's connection drops; c hangs (no reads, no heartbeats) with its partitions.
    let d = members.pop().unwrap();
    let d_held = d.assigned.lock().unwrap().clone();
    d.task.abort();
    let c = members.pop().unwrap();
    let c_held = c.assigned.lock().unwrap().clone();
    assert!(!c_held.is_empty() && !d_held.is_empty());
    c.mode.send(Mode::Hang).unwrap();
    let zombie = c.task.await.unwrap().expect("c hung cleanly");
    let c_id = zombie.member_id().to_string();
    expected.extend(produce_round(&mut client, "two", 40).await);
    wait_settled(&mut client, GROUP, 2, 6).await;
    wait_until("the second round is processed", || {
        processed_all(Arc::clone(&ledger), expected.clone())
    })
    .await;

    let processed = ledger.processed();
    let expected_set: BTreeSet<&String> = expected.iter().collect();
    assert_eq!(
        processed.keys().collect::<BTreeSet<_>>(),
        expected_set,
        "the union covers every record"
    );
    ledger.assert_no_concurrent_processing();
    assert!(
        ledger.refused.lock().unwrap().is_empty(),
        "{:?}",
        ledger.refused
    );
    // Every batch was committed right after it was processed and the members stopped
    // between batches, so the survivors resumed exactly at the commits: nothing twice.
    let twice: Vec<_> = processed.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "processed more than once: {twice:?}");
    let taken_over: BTreeSet<_> = ledger
        .intervals()
        .iter()
        .filter(|i| i.values[0].starts_with("two") && (i.member == "a" || i.member == "b"))
        .map(|i| i.partition.clone())
        .collect();
    assert!(
        taken_over.is_superset(&c_held) && taken_over.is_superset(&d_held),
        "{taken_over:?}"
    );
    let d_now = describe(&mut client, GROUP).await;
    assert!(d_now.generation > generation);
    assert!(d_now.members.iter().all(|m| m.member_id != c_id));

    // The hung member wakes up: its client hands out nothing more, and its commit
    // (from the generation it had) is refused and moves nothing.
    let mut zombie = zombie;
    // Its stream still holds records sent before it was removed: none is handed out.
    let woke = zombie.next().await;
    assert!(matches!(woke, Err(MemberError::LostContact(_))), "{woke:?}");
    let before = committed_offsets(&mut client, GROUP, TOPIC).await;
    let (_, partition) = c_held.iter().next().unwrap().clone();
    let refused = zombie.commit(TOPIC, &[(partition, 0)]).await.unwrap_err();
    let MemberError::Status(status) = refused else {
        panic!("expected a status, got {refused:?}");
    };
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    let current = describe(&mut client, GROUP).await.generation;
    assert!(
        status.message().contains(&format!("generation {current}")),
        "{status:?}"
    );
    assert_eq!(
        status
            .metadata()
            .get("eventlog-group-generation")
            .unwrap()
            .to_str()
            .unwrap(),
        current.to_string()
    );
    assert_eq!(
        committed_offsets(&mut client, GROUP, TOPIC).await,
        before,
        "nothing moved"
    );
    for m in members {
        m.task.abort();
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_member_gets_its_partitions_back_without_a_rebalance() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, TOPIC, 2).await;
    let ledger = Arc::new(Ledger::default());
    let static_options = |host: &str| MemberOptions {
        instance_id: Some(host.into()),
        ..options(60_000)
    };
    let a = spawn_member(
        &server.url(),
        "a",
        static_options("host-a"),
        Arc::clone(&ledger),
    )
    .await;
    let b = spawn_member(
        &server.url(),
        "b",
        static_options("host-b"),
        Arc::clone(&ledger),
    )
    .await;
    wait_settled(&mut client, GROUP, 2, 2).await;
    let generation = describe(&mut client, GROUP).await.generation;
    let held = a.assigned.lock().unwrap().clone();
    a.task.abort();
    wait_until("a shows as disconnected", || {
        let mut client = client.clone();
        async move {
            let d = describe(&mut client, GROUP).await;
            d.members.iter().any(|m| !m.connected)
        }
    })
    .await;
    let d = describe(&mut client, GROUP).await;
    assert_eq!(d.members.len(), 2, "a keeps its place");
    assert_eq!(d.generation, generation, "no rebalance");
    let again = spawn_member(
        &server.url(),
        "a2",
        static_options("host-a"),
        Arc::clone(&ledger),
    )
    .await;
    wait_until("the new instance gets a's partitions", || {
        let assigned = Arc::clone(&again.assigned);
        let held = held.clone();
        async move { *assigned.lock().unwrap() == held }
    })
    .await;
    assert_eq!(describe(&mut client, GROUP).await.generation, generation);
    again.task.abort();
    b.task.abort();
    server.stop().await;
}

/// Opens a raw `GroupSubscribe` stream with `first` as its first message; the error
/// status if the join is refused.
async fn raw_join(
    client: &mut eventlog::client::Client,
    first: pb::group_subscribe_request::Action,
) -> Result<
    (
        tokio::sync::mpsc::Sender<pb::GroupSubscribeRequest>,
        tonic::Streaming<pb::GroupSubscribeResponse>,
    ),
    tonic::Status,
> {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(pb::GroupSubscribeRequest {
        action: Some(first),
    })
    .await
    .unwrap();
    let stream = client
        .event_log
        .group_subscribe(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await?
        .into_inner();
    Ok((tx, stream))
}

fn join(group: &str, topics: &[&str], session_ms: u32) -> pb::group_subscribe_request::Action {
    pb::group_subscribe_request::Action::Join(pb::JoinGroup {
        group: group.into(),
        topics: topics.iter().map(|t| t.to_string()).collect(),
        session_timeout_ms: session_ms,
        ..Default::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_joins_and_operations_on_a_group_with_members_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_adjusted(dir.path(), Default::default(), |b| {
        b.max_group_members = 8;
    })
    .await;
    let mut client = server.client().await;
    create_topic(&mut client, TOPIC, 3).await;
    create_topic(&mut client, "other", 1).await;
    use tonic::Code;
    let code = |r: Result<_, tonic::Status>| r.map(|_| ()).unwrap_err().code();
    assert_eq!(
        code(raw_join(&mut client, join(GROUP, &["missing"], 0)).await),
        Code::NotFound
    );
    assert_eq!(
        code(raw_join(&mut client, join("", &[TOPIC], 0)).await),
        Code::InvalidArgument
    );
    assert_eq!(
        code(raw_join(&mut client, join(GROUP, &[], 0)).await),
        Code::InvalidArgument
    );
    assert_eq!(
        code(raw_join(&mut client, join(GROUP, &[TOPIC], 100)).await),
        Code::InvalidArgument
    );
    assert_eq!(
        code(raw_join(&mut client, join(GROUP, &[TOPIC], 3_600_000)).await),
        Code::InvalidArgument
    );
    let no_instance = pb::group_subscribe_request::Action::Join(pb::JoinGroup {
        group: GROUP.into(),
        topics: vec![TOPIC.into()],
        member_instance_id: Some(String::new()),
        ..Default::default()
    });
    assert_eq!(
        code(raw_join(&mut client, no_instance).await),
        Code::InvalidArgument
    );
    let heartbeat = pb::group_subscribe_request::Action::Heartbeat(pb::GroupHeartbeat {});
    assert_eq!(
        code(raw_join(&mut client, heartbeat).await),
        Code::InvalidArgument
    );

    // Thousands of joins from one client: the first 8 stay, the rest are refused.
    let mut kept = Vec::new();
    let mut refused = 0;
    for _ in 0..2000 {
        match raw_join(&mut client, join(GROUP, &[TOPIC], 0)).await {
            Ok(stream) => kept.push(stream),
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                refused += 1;
            }
        }
    }
    assert_eq!((kept.len(), refused), (8, 1992));
    assert_eq!(describe(&mut client, GROUP).await.members.len(), 8);

    // A member for other topics cannot join; without membership nothing may commit,
    // delete or reset the group while it has members.
    let other = MemberOptions {
        topics: vec!["other".into()],
        ..options(10_000)
    };
    let refused = GroupMember::join(&client, other)
        .await
        .err()
        .expect("other topics refused");
    assert!(
        matches!(refused, MemberError::Status(ref s) if s.code() == Code::FailedPrecondition),
        "{refused:?}"
    );
    let commit = common::commit(&mut client, GROUP, TOPIC, &[(0, 0)])
        .await
        .unwrap_err();
    assert_eq!(commit.code(), Code::FailedPrecondition, "{commit:?}");
    assert!(commit.message().contains("live member"), "{commit:?}");
    let delete = client
        .admin
        .delete_group(pb::DeleteGroupRequest {
            group: GROUP.into(),
            dry_run: false,
        })
        .await
        .unwrap_err();
    assert_eq!(delete.code(), Code::FailedPrecondition, "{delete:?}");
    let reset = client
        .admin
        .reset_group_offsets(pb::ResetGroupOffsetsRequest {
            group: GROUP.into(),
            topic: TOPIC.into(),
            to: Some(pb::reset_group_offsets_request::To::Offset(0)),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reset.code(), Code::FailedPrecondition, "{reset:?}");

    // Once every member has gone, the group is an ordinary one again.
    drop(kept);
    wait_until("the members have left", || {
        let mut client = client.clone();
        async move {
            common::commit(&mut client, GROUP, TOPIC, &[(0, 0)])
                .await
                .is_ok()
        }
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_server_restart_members_rejoin_and_resume_from_the_commits() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, TOPIC, 1).await;
    let first: Vec<_> = (0..3)
        .map(|i| record(None, Some(&format!("v{i}"))))
        .collect();
    produce(&mut client, TOPIC, Some(0), first).await;
    // A static member: when it goes, its partition waits for it, undelivered.
    let static_member = MemberOptions {
        instance_id: Some("host-1".into()),
        ..options(1_800_000)
    };
    let mut member = GroupMember::join(&client, static_member).await.unwrap();
    let mut processed = 0;
    while processed < 3 {
        if let MemberEvent::Records { topic, records } = member.next().await.unwrap() {
            processed += records.len();
            let next = records.last().unwrap().offset + 1;
            member.commit(&topic, &[(0, next)]).await.unwrap();
        }
    }
    drop(member);
    // So a second member gets nothing, reads nothing, and has nothing that would end
    // with the shutdown but its own stream.
    let mut idle = GroupMember::join(&client, options(10_000)).await.unwrap();
    server.stop().await;
    // Without the shutdown reaching it, the stream would stay open for the static
    // member's 30-minute session: the guard turns that hang into a failure.
    let ended = tokio::time::timeout(Duration::from_secs(60), until_error(&mut idle))
        .await
        .expect("the idle member's stream never ended");
    // Ended by the shutdown itself, not cut off when the grace period ran out.
    assert!(
        matches!(ended, MemberError::Status(ref s) if s.code() == tonic::Code::Unavailable),
        "{ended:?}"
    );

    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    assert!(
        describe(&mut client, GROUP).await.members.is_empty(),
        "membership is not kept across a restart"
    );
    produce(&mut client, TOPIC, Some(0), vec![record(None, Some("v3"))]).await;
    let mut member = GroupMember::join(&client, options(10_000)).await.unwrap();
    let records = loop {
        if let MemberEvent::Records { records, .. } = member.next().await.unwrap() {
            break records;
        }
    };
    let values: Vec<_> = records.iter().map(common::value_text).collect();
    assert_eq!(values, ["v3"], "resumed after the committed records");
    drop(member);
    server.stop().await;
}

/// The error that ends `member`'s stream, skipping what it still delivers.
async fn until_error(member: &mut GroupMember) -> MemberError {
    loop {
        if let Err(err) = member.next().await {
            return err;
        }
    }
}
