//! Helpers of the group-membership tests: members that process records into a shared
//! ledger of processing intervals, and waiting for a group's membership to settle.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventlog::client::Client;
use eventlog::client::group_member::{GroupMember, MemberEvent, MemberOptions};
use eventlog::proto::v1 as pb;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One processed batch: who, which records, and when on the ledger's logical clock.
#[derive(Debug, Clone)]
pub struct Interval {
    /// The member's name in the test.
    pub member: String,
    /// The partition.
    pub partition: (String, u32),
    /// Offsets processed.
    pub offsets: Vec<u64>,
    /// Values processed.
    pub values: Vec<String>,
    /// Logical time at the start and the end of processing.
    pub start: u64,
    /// See `start`.
    pub end: u64,
}

/// Every processing interval of every member, on one logical clock.
#[derive(Default)]
pub struct Ledger {
    clock: AtomicU64,
    intervals: Mutex<Vec<Interval>>,
    /// Commits of live members the server refused.
    pub refused: Mutex<Vec<String>>,
}

impl Ledger {
    /// A copy of the intervals so far.
    pub fn intervals(&self) -> Vec<Interval> {
        self.intervals.lock().unwrap().clone()
    }

    /// Every value processed, with how many times.
    pub fn processed(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for i in self.intervals.lock().unwrap().iter() {
            for v in &i.values {
                *counts.entry(v.clone()).or_insert(0) += 1;
            }
        }
        counts
    }

    /// Panics when two members' intervals on one partition overlap.
    pub fn assert_no_concurrent_processing(&self) {
        let intervals = self.intervals();
        let mut by_partition: BTreeMap<&(String, u32), Vec<&Interval>> = BTreeMap::new();
        for i in &intervals {
            by_partition.entry(&i.partition).or_default().push(i);
        }
        for (partition, list) in by_partition {
            for a in &list {
                for b in &list {
                    if a.member != b.member {
                        assert!(
                            a.end < b.start || b.end < a.start,
                            "{partition:?} processed by {} and {} at once: {a:?} {b:?}",
                            a.member,
                            b.member
                        );
                    }
                }
            }
        }
    }
}

/// What the test tells a member's task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Process records.
    Run,
    /// Stop calling into the client (no reads, no heartbeats), as a hung process.
    Hang,
}

/// A member running in a task: processes records into the ledger, commits after each
/// batch, and on a revocation releases what it was told to (its commits are done).
pub struct RunningMember {
    /// Set to hang the member.
    pub mode: watch::Sender<Mode>,
    /// The task; yields the member once it hung (to act as a zombie), or its error.
    pub task: JoinHandle<Result<GroupMember, String>>,
    /// Its current assignment.
    pub assigned: Arc<Mutex<BTreeSet<(String, u32)>>>,
}

/// Joins a member on a connection of its own and runs it.
pub async fn spawn_member(
    url: &str,
    name: &str,
    options: MemberOptions,
    ledger: Arc<Ledger>,
) -> RunningMember {
    let client = Client::connect(url).await.expect("connect");
    let member = GroupMember::join(&client, options).await.expect("join");
    let (mode, mut control) = watch::channel(Mode::Run);
    let assigned = Arc::new(Mutex::new(BTreeSet::new()));
    let shared = Arc::clone(&assigned);
    let name = name.to_string();
    let task = tokio::spawn(async move {
        let mut member = member;
        // The member holds the connection's only client: dropping the task drops it.
        let _client = client;
        loop {
            let event = tokio::select! {
                event = member.next() => event.map_err(|e| format!("{name}: {e}"))?,
                _ = control.changed() => {
                    if *control.borrow() == Mode::Hang {
                        return Ok(member);
                    }
                    continue;
                }
            };
            match event {
                MemberEvent::Assignment {
                    assigned, revoked, ..
                } => {
                    *shared.lock().unwrap() = assigned;
                    if !revoked.is_empty() {
                        member.release(&revoked).await.map_err(|e| e.to_string())?;
                    }
                }
                MemberEvent::Records { topic, records } => {
                    process(&ledger, &name, &topic, &records).await;
                    let partition = records[0].partition;
                    let next = records.last().unwrap().offset + 1;
                    // A refused commit is counted, not fatal: the test asserts on
                    // the ledger, which is clearer than a member that stopped.
                    if let Err(error) = member.commit(&topic, &[(partition, next)]).await {
                        ledger
                            .refused
                            .lock()
                            .unwrap()
                            .push(format!("{name}: {error}"));
                    }
                }
            }
        }
    });
    RunningMember {
        mode,
        task,
        assigned,
    }
}

/// Processes one batch: an interval on the ledger, with a pause inside it so that a
/// second owner of the partition would be caught overlapping.
async fn process(ledger: &Ledger, member: &str, topic: &str, records: &[pb::StoredRecord]) {
    let start = ledger.clock.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(2)).await;
    let end = ledger.clock.fetch_add(1, Ordering::SeqCst);
    let interval = Interval {
        member: member.to_string(),
        partition: (topic.to_string(), records[0].partition),
        offsets: records.iter().map(|r| r.offset).collect(),
        values: records
            .iter()
            .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
            .collect(),
        start,
        end,
    };
    ledger.intervals.lock().unwrap().push(interval);
}

/// The group's description.
pub async fn describe(client: &mut Client, group: &str) -> pb::DescribeGroupResponse {
    client
        .admin
        .describe_group(pb::DescribeGroupRequest {
            group: group.to_string(),
        })
        .await
        .expect("describe group")
        .into_inner()
}

/// Waits (at most a minute, a guard against hangs, not a measurement) until `done`.
pub async fn wait_until<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let waited = tokio::time::timeout(Duration::from_secs(60), async {
        while !done().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "gave up waiting until {what}");
}

/// Each member's assigned partitions, by member id, once the group is settled:
/// `members` members, nothing revoking, every one of `partitions` assigned once.
pub async fn settled(
    client: &mut Client,
    group: &str,
    members: usize,
    partitions: usize,
) -> Option<BTreeMap<String, BTreeSet<(String, u32)>>> {
    let d = describe(client, group).await;
    if d.members.len() != members || d.members.iter().any(|m| !m.revoking.is_empty()) {
        return None;
    }
    let map: BTreeMap<String, BTreeSet<(String, u32)>> = d
        .members
        .iter()
        .map(|m| {
            let set = m
                .assigned
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| (t.topic.clone(), *p)))
                .collect();
            (m.member_id.clone(), set)
        })
        .collect();
    let total: usize = map.values().map(BTreeSet::len).sum();
    (total == partitions).then_some(map)
}

/// Waits until [`settled`] and returns the assignment.
pub async fn wait_settled(
    client: &mut Client,
    group: &str,
    members: usize,
    partitions: usize,
) -> BTreeMap<String, BTreeSet<(String, u32)>> {
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let Some(map) = settled(client, group, members, partitions).await {
                return map;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("{group} never settled with {members} members"))
}
