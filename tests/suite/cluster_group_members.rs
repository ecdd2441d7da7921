//! A consumer group whose members reach a three-node cluster through different nodes:
//! every node hands group calls to the group's coordinator (the metadata leader), so
//! the members share the partitions as one group, and their fenced commits are
//! accepted whichever node they go through.

use crate::cluster_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cluster_support::TestCluster;
use eventlog::client::Client;
use eventlog::client::group_member::{GroupMember, MemberEvent, MemberOptions};
use eventlog::proto::v1 as pb;

const TOPIC: &str = "tasks";
const GROUP: &str = "workers";
const PARTITIONS: u32 = 6;
const RECORDS: u64 = 3;

/// Per member: the partitions it reads now, and the commits it made.
#[derive(Default)]
struct Seen {
    assigned: BTreeMap<usize, BTreeSet<u32>>,
    commit_errors: Vec<String>,
}

async fn member(client: Client, n: usize, seen: Arc<Mutex<Seen>>) {
    let options = MemberOptions {
        group: GROUP.into(),
        topics: vec![TOPIC.into()],
        reset: pb::StartPosition::Earliest,
        ..Default::default()
    };
    let mut member = GroupMember::join(&client, options)
        .await
        .unwrap_or_else(|e| panic!("member {n} could not join: {e}"));
    loop {
        match member.next().await {
            Ok(MemberEvent::Assignment {
                assigned, revoked, ..
            }) => {
                member.release(&revoked).await.unwrap();
                let mine = assigned.iter().map(|(_, p)| *p).collect();
                seen.lock().unwrap().assigned.insert(n, mine);
            }
            Ok(MemberEvent::Records { topic, records }) => {
                let last = records.last().expect("a records event holds records");
                let partition = last.partition;
                let commit = member.commit(&topic, &[(partition, last.offset + 1)]).await;
                if let Err(error) = commit {
                    seen.lock().unwrap().commit_errors.push(error.to_string());
                }
            }
            Err(error) => panic!("member {n}: {error}"),
        }
    }
}

/// Every partition's high watermark, the highest any node reports (a replicated
/// partition's first records follow its Raft control entries, so offsets do not start
/// at 0, and a follower may not know yet that the last records committed).
async fn high_watermarks(cluster: &TestCluster) -> Vec<Option<u64>> {
    let mut highest = vec![0u64; PARTITIONS as usize];
    for id in 1..=3 {
        let mut client = cluster.client_of(id).await;
        let reply = client
            .event_log
            .list_offsets(pb::ListOffsetsRequest {
                topic: TOPIC.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        for p in reply.partitions {
            let slot = &mut highest[p.partition as usize];
            *slot = (*slot).max(p.latest_offset);
        }
    }
    highest.into_iter().map(Some).collect()
}

/// Every partition's committed next offset as node `id` reports it.
async fn committed_on(cluster: &TestCluster, id: u64) -> Vec<Option<u64>> {
    let positions = cluster.committed(id, GROUP, TOPIC, false).await;
    positions.iter().map(|p| p.next_offset).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn members_joining_through_different_nodes_share_one_group() {
    let cluster = TestCluster::start(3);
    cluster.create_topic(1, TOPIC, PARTITIONS, 3).await;
    cluster
        .produce_each(1, TOPIC, PARTITIONS, RECORDS as usize)
        .await;

    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut tasks = Vec::new();
    for n in 0..3usize {
        let client = cluster.client_of(n as u64 + 1).await;
        tasks.push(tokio::spawn(member(client, n, Arc::clone(&seen))));
    }

    // One group: the members' partitions are disjoint, cover the topic, two each; and
    // every record was committed, whichever node its member commits through.
    let everything = high_watermarks(&cluster).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let shared = {
            let seen = seen.lock().unwrap();
            let sets: Vec<&BTreeSet<u32>> = seen.assigned.values().collect();
            let total: usize = sets.iter().map(|s| s.len()).sum();
            let union: BTreeSet<u32> = sets.iter().flat_map(|s| s.iter().copied()).collect();
            sets.len() == 3 && total == PARTITIONS as usize && union.len() == total
        };
        if shared && committed_on(&cluster, 2).await == everything {
            break;
        }
        if Instant::now() > deadline {
            let committed = committed_on(&cluster, 2).await;
            let seen = seen.lock().unwrap();
            panic!(
                "the members did not share the topic as one group: assigned {:?}, commit errors {:?}, committed {committed:?} of {everything:?}",
                seen.assigned, seen.commit_errors
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for id in 1..=3 {
        let mut client = cluster.client_of(id).await;
        let described = client
            .admin
            .describe_group(pb::DescribeGroupRequest {
                group: GROUP.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(described.members.len(), 3, "node {id}: {described:?}");
        assert_eq!(committed_on(&cluster, id).await, everything, "node {id}");
    }
    for task in tasks {
        task.abort();
    }
}
