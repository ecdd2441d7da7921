//! One group's membership as a state machine: members, the target assignment, who owns
//! what now, and the generation. Time is passed in, so every transition is tested
//! without a clock or a server.
//!
//! Cooperative rebalancing: a membership change bumps the generation and computes a new
//! target with the group's [`Strategy`]. A member keeps delivering what it owns and is
//! still assigned; what it owns but lost is *revoking*: no longer delivered, waiting for
//! the member to commit and release it. A partition is granted to its new owner only
//! when nobody owns it any more, i.e. after the release or after the previous owner's
//! session expired, so no partition is ever delivered to two members at once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::error::MembershipError;
use super::strategy::{Assignment, Strategy, TopicPartition};

/// What a member is told: its generation, what to deliver, what to release.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberView {
    /// The group's generation when this view was computed.
    pub generation: u64,
    /// Partitions the member reads now.
    pub assigned: BTreeSet<TopicPartition>,
    /// Partitions it still owns but must commit and release: they go to another member.
    pub revoking: BTreeSet<TopicPartition>,
    /// Set once the member was removed (session expired, replaced); the reason.
    pub expelled: Option<String>,
}

/// What a joining member asks for (validated by the coordinator).
#[derive(Debug, Clone)]
pub struct JoinSpec {
    /// Topics to read; the group's partitions are theirs.
    pub topics: BTreeSet<String>,
    /// Every partition of those topics.
    pub partitions: Vec<TopicPartition>,
    /// Static membership: a stable id surviving restarts.
    pub instance_id: Option<String>,
    /// Where the client connects from (for `describe`).
    pub client: String,
    /// How long the member may stay silent before it is removed.
    pub session_timeout: Duration,
    /// The assignment strategy.
    pub strategy: Strategy,
}

/// A member as `describe` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSummary {
    /// Its id (assigned at join).
    pub member_id: String,
    /// Its member_instance_id, for a static member.
    pub instance_id: Option<String>,
    /// Where it connected from.
    pub client: String,
    /// When it joined, ms since the epoch.
    pub joined_at_ms: i64,
    /// Partitions it reads now.
    pub assigned: BTreeSet<TopicPartition>,
    /// Partitions it is releasing.
    pub revoking: BTreeSet<TopicPartition>,
    /// False for a static member whose connection is gone (kept until its session ends).
    pub connected: bool,
}

/// A member's side of the state.
struct Member {
    instance_id: Option<String>,
    client: String,
    joined_at_ms: i64,
    session_timeout: Duration,
    last_seen: Instant,
    connected: bool,
    /// Partitions delivered to it, each with the generation that granted it.
    owned: BTreeMap<TopicPartition, u64>,
    view: watch::Sender<MemberView>,
}

/// What changed in a step, for metrics and logs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// The generation was bumped (a rebalance started).
    pub rebalanced: bool,
    /// Members removed in this step, with why.
    pub removed: Vec<(String, String)>,
    /// The rebalance in progress finished: every partition is with its target owner.
    pub settled_after: Option<Duration>,
}

/// One group's membership.
pub struct GroupState {
    name: String,
    topics: BTreeSet<String>,
    partitions: Vec<TopicPartition>,
    strategy: Strategy,
    generation: u64,
    members: BTreeMap<String, Member>,
    target: Assignment,
    /// When the rebalance in progress started.
    rebalancing_since: Option<Instant>,
    /// No session ends before this (a lower bound: heartbeats only push sessions
    /// later), so the frequent expiry checks of every member's stream skip the scan.
    no_expiry_before: Option<Instant>,
}

impl GroupState {
    /// A group without members.
    pub fn new(name: &str) -> GroupState {
        GroupState {
            name: name.to_string(),
            topics: BTreeSet::new(),
            partitions: Vec::new(),
            strategy: Strategy::default(),
            generation: 0,
            members: BTreeMap::new(),
            target: Assignment::new(),
            rebalancing_since: None,
            no_expiry_before: None,
        }
    }

    /// The current generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// How many members the group has (disconnected static members included).
    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    /// The topics its members read.
    pub fn topics(&self) -> &BTreeSet<String> {
        &self.topics
    }

    /// The group's strategy (meaningful while it has members).
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// Adds member `id` (or, for a known `instance_id`, hands the old instance's place
    /// to it without a rebalance); returns its view's receiver.
    pub fn join(
        &mut self,
        id: &str,
        spec: JoinSpec,
        max_members: usize,
        now: Instant,
        now_ms: i64,
    ) -> Result<(watch::Receiver<MemberView>, Changes), MembershipError> {
        if !self.members.is_empty() {
            self.check_compatible(&spec)?;
        }
        let replaced = spec.instance_id.as_ref().and_then(|instance| {
            self.members
                .iter()
                .find(|(_, m)| m.instance_id.as_ref() == Some(instance))
                .map(|(old, _)| old.clone())
        });
        if replaced.is_none() && self.members.len() >= max_members {
            return Err(MembershipError::TooManyMembers {
                group: self.name.clone(),
                max: max_members,
            });
        }
        let (view, receiver) = watch::channel(MemberView::default());
        let mut member = Member {
            instance_id: spec.instance_id,
            client: spec.client,
            joined_at_ms: now_ms,
            session_timeout: spec.session_timeout,
            last_seen: now,
            connected: true,
            owned: BTreeMap::new(),
            view,
        };
        let ends = now + member.session_timeout;
        self.no_expiry_before = Some(self.no_expiry_before.map_or(ends, |t| t.min(ends)));
        let mut changes = Changes::default();
        match replaced {
            Some(old_id) => {
                // Static membership: the new instance takes the old one's place as it
                // is, so nothing moves and the generation stays.
                if let Some(old) = self.members.remove(&old_id) {
                    member.owned = old.owned;
                    member.joined_at_ms = old.joined_at_ms;
                    expel(
                        &old.view,
                        self.generation,
                        "replaced by a new instance with its member_instance_id",
                    );
                }
                if let Some(target) = self.target.remove(&old_id) {
                    self.target.insert(id.to_string(), target);
                }
                self.members.insert(id.to_string(), member);
                self.notify();
            }
            None => {
                if self.members.is_empty() {
                    self.topics = spec.topics;
                    self.partitions = spec.partitions;
                    self.strategy = spec.strategy;
                }
                self.members.insert(id.to_string(), member);
                changes = self.rebalance(now);
            }
        }
        Ok((receiver, changes))
    }

    /// Takes partitions of `topic` up to `count` into the group's partitions, and
    /// rebalances if that added any; a group not reading `topic`, or without members
    /// (whose next member brings the count), is left as it is.
    pub fn grow_topic(&mut self, topic: &str, count: u32, now: Instant) -> Changes {
        if self.members.is_empty() || !self.topics.contains(topic) {
            return Changes::default();
        }
        let before = self.partitions.len();
        for partition in 0..count {
            let tp = TopicPartition::new(topic, partition);
            if !self.partitions.contains(&tp) {
                self.partitions.push(tp);
            }
        }
        if self.partitions.len() == before {
            return Changes::default();
        }
        self.partitions.sort();
        self.rebalance(now)
    }

    /// Refuses a join whose topics or strategy differ from the live members'.
    fn check_compatible(&self, spec: &JoinSpec) -> Result<(), MembershipError> {
        if spec.topics != self.topics {
            return Err(MembershipError::TopicsDiffer {
                group: self.name.clone(),
                current: self.topics.iter().cloned().collect(),
                asked: spec.topics.iter().cloned().collect(),
            });
        }
        if spec.strategy != self.strategy {
            return Err(MembershipError::StrategyDiffers {
                group: self.name.clone(),
                current: self.strategy.name(),
                asked: spec.strategy.name(),
            });
        }
        Ok(())
    }

    /// Records that `member` was heard from.
    pub fn heartbeat(&mut self, member: &str, now: Instant) -> Result<(), MembershipError> {
        let m = self.member_mut(member)?;
        m.last_seen = now;
        m.connected = true;
        Ok(())
    }

    /// `member` is done with `partitions` (committed what it processed): those it was
    /// releasing go to their new owners.
    pub fn release(
        &mut self,
        member: &str,
        partitions: &[TopicPartition],
        now: Instant,
    ) -> Result<Changes, MembershipError> {
        self.heartbeat(member, now)?;
        let target = self.target.get(member).cloned().unwrap_or_default();
        if let Some(m) = self.members.get_mut(member) {
            for tp in partitions {
                // Releasing a partition it is still assigned would only bounce it back.
                if !target.contains(tp) {
                    m.owned.remove(tp);
                }
            }
        }
        Ok(self.settle(now))
    }

    /// The member's connection ended. A dynamic member leaves at once; a static one
    /// keeps its place (and partitions, undelivered) until its session times out.
    pub fn disconnect(&mut self, member: &str, now: Instant) -> Changes {
        let Some(m) = self.members.get_mut(member) else {
            return Changes::default();
        };
        if m.instance_id.is_some() {
            m.connected = false;
            return Changes::default();
        }
        self.remove(member, "left", now)
    }

    /// Removes every member silent for longer than its session timeout.
    pub fn expire(&mut self, now: Instant) -> Changes {
        if self.no_expiry_before.is_some_and(|t| now <= t) {
            return Changes::default();
        }
        let expired: Vec<String> = self
            .members
            .iter()
            .filter(|(_, m)| now.saturating_duration_since(m.last_seen) > m.session_timeout)
            .map(|(id, _)| id.clone())
            .collect();
        let mut changes = Changes::default();
        for id in expired {
            let step = self.remove(&id, "session timed out", now);
            changes.rebalanced |= step.rebalanced;
            changes.removed.extend(step.removed);
            changes.settled_after = step.settled_after.or(changes.settled_after);
        }
        self.no_expiry_before = self.next_expiry();
        changes
    }

    /// When the next member's session ends if nobody is heard from meanwhile.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.members
            .values()
            .map(|m| m.last_seen + m.session_timeout)
            .min()
    }

    fn remove(&mut self, member: &str, why: &str, now: Instant) -> Changes {
        let Some(m) = self.members.remove(member) else {
            return Changes::default();
        };
        expel(&m.view, self.generation, why);
        self.target.remove(member);
        let mut changes = self.rebalance(now);
        changes.removed.push((member.to_string(), why.to_string()));
        changes
    }

    /// Bumps the generation, computes the new target from what members own now, and
    /// grants what is free.
    fn rebalance(&mut self, now: Instant) -> Changes {
        self.generation += 1;
        let ids: BTreeSet<String> = self.members.keys().cloned().collect();
        let owns: Assignment = self
            .members
            .iter()
            .map(|(id, m)| (id.clone(), m.owned.keys().cloned().collect()))
            .collect();
        self.target = self.strategy.assign(&ids, &self.partitions, &owns);
        self.rebalancing_since = Some(now);
        let mut changes = self.settle(now);
        changes.rebalanced = true;
        changes
    }

    /// Grants every target partition nobody owns, then tells members what changed.
    fn settle(&mut self, now: Instant) -> Changes {
        let owned: BTreeSet<TopicPartition> = self
            .members
            .values()
            .flat_map(|m| m.owned.keys().cloned())
            .collect();
        let generation = self.generation;
        for (id, target) in &self.target {
            if let Some(m) = self.members.get_mut(id) {
                for tp in target.difference(&owned) {
                    m.owned.insert(tp.clone(), generation);
                }
            }
        }
        self.notify();
        let mut changes = Changes::default();
        if self.is_settled()
            && let Some(since) = self.rebalancing_since.take()
        {
            changes.settled_after = Some(now.saturating_duration_since(since));
        }
        changes
    }

    /// True when every member owns exactly its target.
    fn is_settled(&self) -> bool {
        self.members.iter().all(|(id, m)| {
            let target = self.target.get(id);
            m.owned.len() == target.map_or(0, BTreeSet::len)
                && m.owned
                    .keys()
                    .all(|tp| target.is_some_and(|t| t.contains(tp)))
        })
    }

    /// Sends each member its view where it changed.
    fn notify(&self) {
        for (id, m) in &self.members {
            let view = self.view_of(id, m);
            m.view.send_if_modified(|current| {
                if *current == view {
                    false
                } else {
                    *current = view;
                    true
                }
            });
        }
    }

    fn view_of(&self, id: &str, m: &Member) -> MemberView {
        let target = self.target.get(id);
        let (assigned, revoking) = m
            .owned
            .keys()
            .cloned()
            .partition(|tp| target.is_some_and(|t| t.contains(tp)));
        MemberView {
            generation: self.generation,
            // A disconnected static member's partitions wait for it, undelivered.
            assigned,
            revoking,
            expelled: None,
        }
    }

    /// Checks a commit of `partitions` of `topic`. `fence` is the committing member and
    /// the generation it read them in; `None` is a commit without membership, allowed
    /// only while the group has no members.
    pub fn check_commit(
        &self,
        fence: Option<(&str, u64)>,
        topic: &str,
        partitions: &[u32],
    ) -> Result<(), MembershipError> {
        let Some((member, given)) = fence else {
            return self.check_empty("a commit without membership");
        };
        let m = self.member(member)?;
        for &partition in partitions {
            let tp = TopicPartition::new(topic, partition);
            let Some(&owned_since) = m.owned.get(&tp) else {
                return Err(MembershipError::NotOwner {
                    group: self.name.clone(),
                    member: member.to_string(),
                    partition: tp,
                    generation: self.generation,
                });
            };
            if given < owned_since || given > self.generation {
                return Err(MembershipError::StaleGeneration {
                    group: self.name.clone(),
                    member: member.to_string(),
                    partition: tp,
                    given,
                    owned_since,
                    generation: self.generation,
                });
            }
        }
        Ok(())
    }

    /// True when `member` gives up nothing and still waits for partitions of its target
    /// that other members own: what a Kafka member's JoinGroup waits out, so that its
    /// SyncGroup hands it its whole share rather than part of it.
    pub fn waits_for_partitions(&self, member: &str) -> bool {
        let (Some(m), Some(target)) = (self.members.get(member), self.target.get(member)) else {
            return false;
        };
        let gives_up = m.owned.keys().any(|tp| !target.contains(tp));
        !gives_up && target.iter().any(|tp| !m.owned.contains_key(tp))
    }

    /// Refuses `what` while the group has members.
    pub fn check_empty(&self, what: &'static str) -> Result<(), MembershipError> {
        if self.members.is_empty() {
            return Ok(());
        }
        Err(MembershipError::HasMembers {
            group: self.name.clone(),
            members: self.members.len(),
            generation: self.generation,
            what,
        })
    }

    /// Every member, in id order.
    pub fn summaries(&self) -> Vec<MemberSummary> {
        self.members
            .iter()
            .map(|(id, m)| {
                let view = self.view_of(id, m);
                MemberSummary {
                    member_id: id.clone(),
                    instance_id: m.instance_id.clone(),
                    client: m.client.clone(),
                    joined_at_ms: m.joined_at_ms,
                    assigned: view.assigned,
                    revoking: view.revoking,
                    connected: m.connected,
                }
            })
            .collect()
    }

    fn member(&self, id: &str) -> Result<&Member, MembershipError> {
        self.members.get(id).ok_or_else(|| self.unknown(id))
    }

    fn member_mut(&mut self, id: &str) -> Result<&mut Member, MembershipError> {
        let unknown = self.unknown(id);
        self.members.get_mut(id).ok_or(unknown)
    }

    fn unknown(&self, id: &str) -> MembershipError {
        MembershipError::UnknownMember {
            group: self.name.clone(),
            member: id.to_string(),
            generation: self.generation,
        }
    }
}

/// Tells a removed member why; its stream ends on it.
fn expel(view: &watch::Sender<MemberView>, generation: u64, why: &str) {
    view.send_modify(|v| {
        v.generation = generation;
        v.assigned.clear();
        v.revoking.clear();
        v.expelled = Some(why.to_string());
    });
}

#[cfg(test)]
#[path = "group_tests.rs"]
mod tests;
