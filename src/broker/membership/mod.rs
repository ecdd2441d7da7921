//! Consumer-group membership: the coordinator that splits a group's partitions among
//! its live members, moves them cooperatively when members join, leave or die, and
//! fences commits with generations.
//!
//! - [`strategy`]: the assignment strategies (sticky by default, round-robin), pure.
//! - [`group`]: one group's state machine (members, target, ownership, generation),
//!   driven with explicit time.
//! - [`error`]: why an operation was refused; `metrics`: rebalances, members,
//!   generation, time to rebalance.
//! - `ops`: the broker operations built on it (join, subscribe a member's partitions
//!   from the group's commits, fenced commits).
//! - [`classic`]: members that speak Kafka's request/response group protocol (JoinGroup,
//!   SyncGroup, Heartbeat, LeaveGroup) instead of holding a stream, as the same
//!   coordinator's members.
//!
//! Membership lives in memory: a server restart ends every member's stream and the
//! members rejoin; the commits are durable in the group store, so nothing is re-read
//! beyond the last commit. Sessions are checked whenever the group is touched (joins,
//! heartbeats, commits, describe) and on a timer by every member's stream, so a member
//! that hangs is removed within about a fifth of its session timeout after it ends.
//!
//! # Kafka's group protocol on this coordinator
//! The coordinator computes assignments itself (as in Kafka's KIP-848 protocol), so
//! Kafka consumers need no client-side leader; [`classic`] holds them between their
//! requests:
//! - `JoinGroup` → [`Coordinator::join_as`] (version 4 and later hand out the id first,
//!   KIP-394); a known member's rejoin releases what it was told to give up and no
//!   longer claims ([`Coordinator::release`]); the answer waits until the member owns
//!   its whole share ([`GroupState::waits_for_partitions`]) or its rebalance timeout.
//! - `SyncGroup` → the member's [`MemberView::assigned`] (a leader's proposal is
//!   ignored); `Heartbeat` → [`Coordinator::heartbeat`], REBALANCE_IN_PROGRESS once
//!   the view differs from what SyncGroup handed out; `LeaveGroup` →
//!   [`Coordinator::disconnect`].
//! - `OffsetCommit` with member id and generation → the broker's fenced commit
//!   (`UNKNOWN_MEMBER_ID`, `ILLEGAL_GENERATION` from [`MembershipError`]); without them
//!   on a group with members → `NON_EMPTY_GROUP`, as `DeleteGroups`.

pub mod classic;
pub mod error;
pub mod group;
mod metrics;
mod ops;
pub mod strategy;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;

pub use error::MembershipError;
pub use group::{GroupState, JoinSpec, MemberSummary, MemberView};
pub use metrics::{GROUP_GENERATION, GROUP_MEMBERS, GROUP_REBALANCE_SECONDS, GROUP_REBALANCES};
pub use ops::{GroupMember, JoinGroup};
pub use strategy::{Strategy, TopicPartition};

use group::Changes;

/// Shortest session timeout a member may ask for.
pub const MIN_SESSION_TIMEOUT: Duration = Duration::from_millis(500);
/// Longest session timeout a member may ask for (30 minutes, Kafka's default maximum).
pub const MAX_SESSION_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// The session timeout of a member that asks for none.
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(10);
/// Default cap on the members of one group.
pub const DEFAULT_MAX_GROUP_MEMBERS: usize = 1000;

/// A group's membership as `describe` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMembership {
    /// The current generation.
    pub generation: u64,
    /// The assignment strategy.
    pub strategy: Strategy,
    /// The topics the members read.
    pub topics: Vec<String>,
    /// The members, in id order.
    pub members: Vec<MemberSummary>,
}

/// Every group's membership.
pub struct Coordinator {
    max_members: usize,
    groups: Mutex<BTreeMap<String, Arc<Mutex<GroupState>>>>,
    /// When groups lost their last member (ms since the epoch), kept for `retention`:
    /// their idle-expiry countdown starts then.
    emptied: Mutex<BTreeMap<String, i64>>,
    retention: Duration,
    next_id: AtomicU64,
    /// Start time of this coordinator, in every member id, so ids from before a
    /// restart never name a member after it.
    incarnation: String,
    /// The members that speak Kafka's request/response protocol, held between requests.
    classic: classic::ClassicRegistry,
}

impl Coordinator {
    /// A coordinator allowing `max_members` per group, remembering for `retention` when
    /// a group lost its last member.
    pub fn new(max_members: usize, retention: Duration) -> Coordinator {
        Coordinator {
            max_members,
            groups: Mutex::new(BTreeMap::new()),
            emptied: Mutex::new(BTreeMap::new()),
            retention,
            next_id: AtomicU64::new(1),
            incarnation: format!("{:x}", super::group_store::now_ms()),
            classic: classic::ClassicRegistry::default(),
        }
    }

    /// A member id never given before by this coordinator (nor by an earlier run).
    pub fn new_member_id(&self, instance_id: Option<&str>) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        match instance_id {
            Some(instance) => format!("{instance}-{}-{n}", self.incarnation),
            None => format!("member-{}-{n}", self.incarnation),
        }
    }

    /// Adds a member to `group` (creating the group's membership); returns its id and
    /// the receiver of its views.
    pub fn join(
        &self,
        group: &str,
        spec: JoinSpec,
        now: Instant,
    ) -> Result<(String, watch::Receiver<MemberView>), MembershipError> {
        self.join_as(group, None, spec, now)
    }

    /// [`Coordinator::join`] under a member id handed out before by
    /// [`Coordinator::new_member_id`] (Kafka's two-step join, KIP-394), or a new one.
    pub fn join_as(
        &self,
        group: &str,
        id: Option<String>,
        spec: JoinSpec,
        now: Instant,
    ) -> Result<(String, watch::Receiver<MemberView>), MembershipError> {
        let id = id.unwrap_or_else(|| self.new_member_id(spec.instance_id.as_deref()));
        let state = self.entry(group);
        let mut state = lock(&state);
        let changes = state.expire(now);
        let joined = state.join(
            &id,
            spec,
            self.max_members,
            now,
            super::group_store::now_ms(),
        );
        let (view, joined_changes) = match joined {
            Ok(ok) => ok,
            Err(err) => {
                self.after(group, &state, &changes);
                drop(state);
                self.forget_if_empty(group);
                return Err(err);
            }
        };
        self.after(group, &state, &changes);
        self.after(group, &state, &joined_changes);
        tracing::info!(group, member = %id, generation = state.generation(), "member joined");
        Ok((id, view))
    }

    /// Records that `member` was heard from.
    pub fn heartbeat(
        &self,
        group: &str,
        member: &str,
        now: Instant,
    ) -> Result<(), MembershipError> {
        self.step(group, now, |state| {
            state.heartbeat(member, now).map(|()| Changes::default())
        })
    }

    /// `member` committed and gave up `partitions` it was told to release.
    pub fn release(
        &self,
        group: &str,
        member: &str,
        partitions: &[TopicPartition],
        now: Instant,
    ) -> Result<(), MembershipError> {
        self.step(group, now, |state| state.release(member, partitions, now))
    }

    /// `member`'s connection ended (a static member keeps its place for its session).
    pub fn disconnect(&self, group: &str, member: &str, now: Instant) {
        let _ = self.step(group, now, |state| Ok(state.disconnect(member, now)));
    }

    /// Topic `topic` now has `count` partitions: every group whose members read it
    /// takes the new ones into its assignment (a rebalance), as Kafka's consumers
    /// rejoin when the metadata shows more partitions.
    pub fn partitions_added(&self, topic: &str, count: u32, now: Instant) {
        let groups: Vec<(String, Arc<Mutex<GroupState>>)> = lock(&self.groups)
            .iter()
            .map(|(name, state)| (name.clone(), Arc::clone(state)))
            .collect();
        for (name, state) in groups {
            let mut guard = lock(&state);
            let changes = guard.grow_topic(topic, count, now);
            self.after(&name, &guard, &changes);
        }
    }

    /// Removes `group`'s members whose session timed out.
    pub fn expire(&self, group: &str, now: Instant) {
        let _ = self.step(group, now, |_| Ok(Changes::default()));
    }

    /// Runs `work` with `group`'s state locked (after expiring sessions), so what it
    /// checks cannot change until it returns; `None` when the group has no members.
    pub fn locked<T>(&self, group: &str, work: impl FnOnce(Option<&GroupState>) -> T) -> T {
        let Some(state) = self.existing(group) else {
            return work(None);
        };
        let mut guard = lock(&state);
        let changes = guard.expire(Instant::now());
        self.after(group, &guard, &changes);
        let result = work(Some(&*guard).filter(|s| s.member_count() > 0));
        drop(guard);
        self.forget_if_empty(group);
        result
    }

    /// Refuses `what` while `group` has members.
    pub fn check_empty(&self, group: &str, what: &'static str) -> Result<(), MembershipError> {
        self.locked(group, |state| state.map_or(Ok(()), |s| s.check_empty(what)))
    }

    /// The groups with live members, in name order.
    pub fn live_groups(&self) -> Vec<String> {
        lock(&self.groups)
            .iter()
            .filter(|(_, state)| state.try_lock().map_or(true, |s| s.member_count() > 0))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The group's members and generation; `None` without members.
    pub fn describe(&self, group: &str) -> Option<GroupMembership> {
        self.locked(group, |state| {
            state.map(|s| GroupMembership {
                generation: s.generation(),
                strategy: s.strategy(),
                topics: s.topics().iter().cloned().collect(),
                members: s.summaries(),
            })
        })
    }

    /// Runs one transition on an existing group, expiring sessions first.
    fn step(
        &self,
        group: &str,
        now: Instant,
        transition: impl FnOnce(&mut GroupState) -> Result<Changes, MembershipError>,
    ) -> Result<(), MembershipError> {
        let Some(state) = self.existing(group) else {
            // The group is gone, so is every member it had.
            return transition(&mut GroupState::new(group)).map(|_| ());
        };
        let mut guard = lock(&state);
        let expired = guard.expire(now);
        self.after(group, &guard, &expired);
        let result = transition(&mut guard);
        if let Ok(changes) = &result {
            self.after(group, &guard, changes);
        }
        drop(guard);
        self.forget_if_empty(group);
        result.map(|_| ())
    }

    /// Logs and publishes a step's changes.
    fn after(&self, group: &str, state: &GroupState, changes: &Changes) {
        for (member, why) in &changes.removed {
            tracing::info!(group, %member, why, generation = state.generation(), "member removed");
        }
        if let Some(took) = changes.settled_after {
            tracing::info!(
                group,
                generation = state.generation(),
                ?took,
                "rebalance finished"
            );
        }
        metrics::record(group, state, changes);
    }

    fn entry(&self, group: &str) -> Arc<Mutex<GroupState>> {
        let mut groups = lock(&self.groups);
        Arc::clone(
            groups
                .entry(group.to_string())
                .or_insert_with(|| Arc::new(Mutex::new(GroupState::new(group)))),
        )
    }

    fn existing(&self, group: &str) -> Option<Arc<Mutex<GroupState>>> {
        lock(&self.groups).get(group).cloned()
    }

    /// Drops the state of a group left without members. A group whose state is in use
    /// (a commit holding it) is skipped rather than waited for: whoever holds it drops
    /// it later.
    fn forget_if_empty(&self, group: &str) {
        let mut groups = lock(&self.groups);
        let empty = groups
            .get(group)
            .is_some_and(|state| state.try_lock().is_ok_and(|s| s.member_count() == 0));
        if empty {
            groups.remove(group);
            drop(groups);
            self.remember_emptied(group);
        }
    }

    /// Notes that `group` just lost its last member, forgetting groups emptied longer
    /// than the retention ago (their commits' expiry no longer depends on it).
    fn remember_emptied(&self, group: &str) {
        let now = super::group_store::now_ms();
        let retention_ms = i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX);
        let mut emptied = lock(&self.emptied);
        emptied.retain(|_, at| now.saturating_sub(*at) <= retention_ms);
        emptied.insert(group.to_string(), now);
    }

    /// When `group` was last in use by members: `i64::MAX` while it has members, the
    /// time its last member left if that was within the retention, else `None`.
    pub fn last_active(&self, group: &str) -> Option<i64> {
        let live = lock(&self.groups)
            .get(group)
            .is_some_and(|state| state.try_lock().map_or(true, |s| s.member_count() > 0));
        if live {
            return Some(i64::MAX);
        }
        lock(&self.emptied).get(group).copied()
    }
}

/// Locks `mutex`, taking over a lock poisoned by a panic: every transition leaves the
/// state whole before anything that could panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> JoinSpec {
        JoinSpec {
            topics: ["t".to_string()].into(),
            partitions: vec![TopicPartition::new("t", 0)],
            instance_id: None,
            client: String::new(),
            session_timeout: DEFAULT_SESSION_TIMEOUT,
            strategy: Strategy::Sticky,
        }
    }

    #[test]
    fn a_group_is_active_while_it_has_members_and_since_its_last_left() {
        let coordinator = Coordinator::new(10, Duration::from_secs(3600));
        assert_eq!(coordinator.last_active("g"), None);
        let (id, _view) = coordinator.join("g", spec(), Instant::now()).unwrap();
        assert_eq!(coordinator.last_active("g"), Some(i64::MAX));
        assert!(coordinator.check_empty("g", "deleting the group").is_err());
        let before = super::super::group_store::now_ms();
        coordinator.disconnect("g", &id, Instant::now());
        let left = coordinator.last_active("g").expect("remembered");
        assert!(left >= before && left < i64::MAX, "{left}");
        assert!(coordinator.describe("g").is_none());
        assert!(coordinator.check_empty("g", "deleting the group").is_ok());
    }
}
