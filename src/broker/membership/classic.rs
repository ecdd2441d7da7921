//! Kafka's classic group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) on the
//! one coordinator, so a Kafka consumer and a gRPC member can share a group.
//!
//! A gRPC member holds a stream and is pushed its views; a classic member only makes
//! requests, so this registry holds its [`GroupMember`] between them, with what the
//! protocol needs on top: the generation its last JoinGroup answered, and the partitions
//! its last SyncGroup handed it. As Kafka 4.0 serves classic members of a
//! server-assigned group, the coordinator computes every assignment (a leader's
//! proposal is ignored):
//! - JoinGroup joins (or, for a known member, rejoins: the partitions it was told to
//!   give up and no longer claims are released to their new owners), then waits, up to
//!   the rebalance timeout, until the member gives nothing up and owns its whole share,
//!   so the SyncGroup that follows hands it all of it.
//! - SyncGroup answers the partitions the member owns and keeps at the generation its
//!   JoinGroup answered; a newer generation meanwhile is REBALANCE_IN_PROGRESS.
//! - Heartbeat is REBALANCE_IN_PROGRESS once the member's partitions differ from what
//!   SyncGroup handed it (it must give some up, or has more to read), so it rejoins;
//!   a generation bump that moved nothing of its own leaves it alone.
//! - LeaveGroup removes it at once, and its partitions go to the others.
//!
//! A watcher task per member expires its group's silent members on a timer, as every
//! gRPC member's stream does, and drops the member once the coordinator removed it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::ops::check_session_timeout;
use super::{
    Coordinator, GroupMember, JoinGroup, MAX_SESSION_TIMEOUT, MemberView, MembershipError,
    TopicPartition,
};
use crate::broker::group_types::validate_group_name;
use crate::broker::{Broker, BrokerError};

/// Most member ids handed out and not yet used, over all groups (KIP-394's pending
/// members); beyond it a JoinGroup without a member id is refused.
const MAX_PENDING: usize = 100_000;

/// What a classic member's JoinGroup asks for.
#[derive(Debug, Clone)]
pub struct ClassicJoin {
    /// The group.
    pub group: String,
    /// Its member id; empty for a member joining for the first time.
    pub member_id: String,
    /// Whether a first join must come back with a member id handed out first (KIP-394,
    /// JoinGroup version 4 and later).
    pub require_member_id: bool,
    /// The topics it subscribes to.
    pub topics: Vec<String>,
    /// Partitions it still owns and reads through the rebalance (a cooperative
    /// client's); the others it was told to give up are released.
    pub owned: Vec<TopicPartition>,
    /// How long it may stay silent.
    pub session_timeout: Duration,
    /// Longest its JoinGroup waits for its share.
    pub rebalance_timeout: Duration,
    /// The client's id, for describe.
    pub client_id: String,
    /// Where it connects from, for describe.
    pub client: String,
    /// The protocol (assignor) name it is answered with.
    pub protocol: String,
    /// Its subscription as it sent it, for describe.
    pub metadata: Bytes,
}

/// The answer to a JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassicJoined {
    /// Join again with this member id (KIP-394).
    MemberIdRequired {
        /// The id handed out.
        member_id: String,
    },
    /// Joined; SyncGroup at this generation.
    Joined {
        /// The member's id.
        member_id: String,
        /// The generation to sync, heartbeat and commit with.
        generation: u64,
    },
}

/// A classic member as DescribeGroups shows it.
#[derive(Debug, Clone)]
pub struct ClassicMemberInfo {
    /// The client's id.
    pub client_id: String,
    /// The protocol it was answered with.
    pub protocol: String,
    /// Its subscription as it sent it.
    pub metadata: Bytes,
}

/// Why a classic group request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ClassicError {
    /// A broker or membership refusal (unknown topic, session timeout, full group...).
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// The member id is not (or no longer) one of the group's members.
    #[error("member {member} is not in group {group}; join again")]
    UnknownMember {
        /// The group.
        group: String,
        /// The member id given.
        member: String,
    },
    /// The generation is not the one the member was last answered.
    #[error("generation {given} is not member {member}'s generation in group {group}; join again")]
    IllegalGeneration {
        /// The group.
        group: String,
        /// The member.
        member: String,
        /// The generation given.
        given: i32,
    },
    /// The member's partitions changed: it must join again to learn them.
    #[error("group {group} is rebalancing (generation {generation}); join again")]
    RebalanceInProgress {
        /// The group.
        group: String,
        /// The group's generation.
        generation: u64,
    },
}

impl From<MembershipError> for ClassicError {
    fn from(err: MembershipError) -> ClassicError {
        ClassicError::Broker(err.into())
    }
}

type Key = (String, String);

/// The classic members of every group, and the member ids handed out to come back.
#[derive(Default)]
pub struct ClassicRegistry {
    members: Mutex<BTreeMap<Key, Arc<Mutex<ClassicMember>>>>,
    /// Ids handed out by a first JoinGroup, until they come back or expire.
    pending: Mutex<BTreeMap<Key, Instant>>,
}

/// One classic member between its requests.
struct ClassicMember {
    handle: GroupMember,
    topics: BTreeSet<String>,
    info: ClassicMemberInfo,
    /// The generation its last JoinGroup answered.
    joined: Option<u64>,
    /// The generation and partitions its last SyncGroup answered.
    synced: Option<(u64, BTreeSet<TopicPartition>)>,
}

impl ClassicRegistry {
    fn get(&self, group: &str, member: &str) -> Option<Arc<Mutex<ClassicMember>>> {
        lock(&self.members)
            .get(&(group.to_string(), member.to_string()))
            .cloned()
    }

    /// Removes a member; dropping the last handle disconnects it (outside the lock,
    /// since that takes the group's).
    fn remove(&self, group: &str, member: &str) -> Option<Arc<Mutex<ClassicMember>>> {
        lock(&self.members).remove(&(group.to_string(), member.to_string()))
    }

    fn pend(&self, group: &str, member: &str, until: Instant) -> Result<(), MembershipError> {
        let mut pending = lock(&self.pending);
        let now = Instant::now();
        pending.retain(|_, expiry| *expiry > now);
        if pending.len() >= MAX_PENDING {
            return Err(MembershipError::TooManyMembers {
                group: group.to_string(),
                max: MAX_PENDING,
            });
        }
        pending.insert((group.to_string(), member.to_string()), until);
        Ok(())
    }

    fn take_pending(&self, group: &str, member: &str) -> bool {
        let key = (group.to_string(), member.to_string());
        lock(&self.pending)
            .remove(&key)
            .is_some_and(|expiry| expiry > Instant::now())
    }
}

impl Broker {
    /// A classic member's JoinGroup: joins or rejoins, then waits for its share (see
    /// the module docs).
    pub async fn classic_join(&self, join: ClassicJoin) -> Result<ClassicJoined, ClassicError> {
        self.accepting()?;
        validate_group_name(&join.group)?;
        check_session_timeout(join.session_timeout)?;
        let registry = &self.membership.classic;
        let member = if join.member_id.is_empty() {
            if join.require_member_id {
                let member_id = self.membership.new_member_id(None);
                let until = Instant::now() + join.session_timeout;
                registry.pend(&join.group, &member_id, until)?;
                return Ok(ClassicJoined::MemberIdRequired { member_id });
            }
            self.classic_add(&join, None)?
        } else if let Some(existing) = registry.get(&join.group, &join.member_id) {
            match self.classic_rejoin(&existing, &join)? {
                Some(member) => member,
                None => self.classic_add(&join, Some(join.member_id.clone()))?,
            }
        } else if registry.take_pending(&join.group, &join.member_id) {
            self.classic_add(&join, Some(join.member_id.clone()))?
        } else {
            return Err(unknown(&join.group, &join.member_id));
        };
        let generation = self.classic_await(&member, &join).await?;
        let mut m = lock(&member);
        m.joined = Some(generation);
        m.synced = None;
        Ok(ClassicJoined::Joined {
            member_id: m.handle.id().to_string(),
            generation,
        })
    }

    /// Adds a new classic member (under `id` when given) and starts its watcher.
    fn classic_add(
        &self,
        join: &ClassicJoin,
        id: Option<String>,
    ) -> Result<Arc<Mutex<ClassicMember>>, ClassicError> {
        // The assignment is the coordinator's whatever the client's assignor, so a
        // Kafka member takes the strategy of the live members it joins.
        let strategy = self
            .membership
            .locked(&join.group, |state| state.map(|s| s.strategy()))
            .unwrap_or_default();
        let handle = self.join_group_as(
            JoinGroup {
                group: join.group.clone(),
                topics: join.topics.clone(),
                instance_id: None,
                client: join.client.clone(),
                session_timeout: Some(join.session_timeout),
                strategy,
            },
            id,
        )?;
        let member_id = handle.id().to_string();
        let view = handle.watch();
        let member = Arc::new(Mutex::new(ClassicMember {
            handle,
            topics: join.topics.iter().cloned().collect(),
            info: info_of(join),
            joined: None,
            synced: None,
        }));
        lock(&self.membership.classic.members)
            .insert((join.group.clone(), member_id.clone()), Arc::clone(&member));
        tokio::spawn(watch_member(
            Arc::clone(&self.membership),
            join.group.clone(),
            member_id,
            view,
            join.session_timeout,
            self.shutdown_token().clone(),
        ));
        Ok(member)
    }

    /// A known member joins again: releases what it gave up. `None` when it changed its
    /// topics: it was removed and joins anew under the same id.
    fn classic_rejoin(
        &self,
        existing: &Arc<Mutex<ClassicMember>>,
        join: &ClassicJoin,
    ) -> Result<Option<Arc<Mutex<ClassicMember>>>, ClassicError> {
        let mut m = lock(existing);
        let view = m.handle.view_now();
        if view.expelled.is_some() {
            drop(m);
            self.membership.classic.remove(&join.group, &join.member_id);
            return Err(unknown(&join.group, &join.member_id));
        }
        let topics: BTreeSet<String> = join.topics.iter().cloned().collect();
        if topics != m.topics {
            drop(m);
            let old = self.membership.classic.remove(&join.group, &join.member_id);
            drop(old);
            return Ok(None);
        }
        m.handle.heartbeat()?;
        let kept: BTreeSet<TopicPartition> = join.owned.iter().cloned().collect();
        let released: Vec<TopicPartition> = view.revoking.difference(&kept).cloned().collect();
        if !released.is_empty() {
            m.handle.release(&released)?;
        }
        m.info = info_of(join);
        Ok(Some(Arc::clone(existing)))
    }

    /// Waits until the member gives nothing up and owns its whole share, or the
    /// rebalance timeout; the generation to answer.
    async fn classic_await(
        &self,
        member: &Arc<Mutex<ClassicMember>>,
        join: &ClassicJoin,
    ) -> Result<u64, ClassicError> {
        let (mut view, id, session) = {
            let m = lock(member);
            (
                m.handle.watch(),
                m.handle.id().to_string(),
                m.handle.session_timeout(),
            )
        };
        let wait = join.rebalance_timeout.min(MAX_SESSION_TIMEOUT);
        let deadline = tokio::time::Instant::now() + wait;
        // The member does not heartbeat while its JoinGroup waits: it is alive.
        let tick = (session / 5).max(Duration::from_millis(50));
        let shutdown = self.shutdown_token().clone();
        loop {
            if view.borrow_and_update().expelled.is_some() {
                return Err(unknown(&join.group, &id));
            }
            let waits = self.membership.locked(&join.group, |state| {
                state.is_some_and(|s| s.waits_for_partitions(&id))
            });
            if !waits {
                return Ok(view.borrow().generation);
            }
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return Err(BrokerError::ShuttingDown.into()),
                changed = view.changed() => if changed.is_err() {
                    return Err(unknown(&join.group, &id));
                },
                () = tokio::time::sleep(tick) => {
                    lock(member).handle.heartbeat()?;
                    self.membership.expire(&join.group, Instant::now());
                }
                () = tokio::time::sleep_until(deadline) => return Ok(view.borrow().generation),
            }
        }
    }

    /// A classic member's SyncGroup: the partitions it reads from now.
    pub fn classic_sync(
        &self,
        group: &str,
        member: &str,
        generation: i32,
    ) -> Result<BTreeSet<TopicPartition>, ClassicError> {
        self.accepting()?;
        let entry = self.classic_member(group, member)?;
        let mut m = lock(&entry);
        let given = u64::try_from(generation).ok();
        if given.is_none() || m.joined != given {
            return Err(illegal(group, member, generation));
        }
        m.handle.heartbeat()?;
        let view = m.handle.view_now();
        if Some(view.generation) != given {
            return Err(ClassicError::RebalanceInProgress {
                group: group.to_string(),
                generation: view.generation,
            });
        }
        m.synced = Some((view.generation, view.assigned.clone()));
        Ok(view.assigned)
    }

    /// A classic member's Heartbeat (see the module docs for when it asks to rejoin).
    pub fn classic_heartbeat(
        &self,
        group: &str,
        member: &str,
        generation: i32,
    ) -> Result<(), ClassicError> {
        self.accepting()?;
        let entry = self.classic_member(group, member)?;
        let m = lock(&entry);
        m.handle.heartbeat()?;
        let given = u64::try_from(generation).ok();
        let view = m.handle.view_now();
        match (&m.synced, m.joined) {
            (Some((synced, assigned)), _) if Some(*synced) == given => {
                if view.assigned != *assigned || !view.revoking.is_empty() {
                    return Err(ClassicError::RebalanceInProgress {
                        group: group.to_string(),
                        generation: view.generation,
                    });
                }
                Ok(())
            }
            // Between its JoinGroup and its SyncGroup.
            (None, Some(joined)) if Some(joined) == given => Ok(()),
            _ => Err(illegal(group, member, generation)),
        }
    }

    /// A classic member's LeaveGroup: removed at once, its partitions go to the others.
    pub fn classic_leave(&self, group: &str, member: &str) -> Result<(), ClassicError> {
        self.accepting()?;
        if self.membership.classic.take_pending(group, member) {
            return Ok(());
        }
        let removed = self.membership.classic.remove(group, member);
        match removed {
            Some(entry) => {
                let expelled = lock(&entry).handle.view_now().expelled.is_some();
                drop(entry);
                if expelled {
                    return Err(unknown(group, member));
                }
                tracing::info!(group, member, "kafka member left");
                Ok(())
            }
            None => Err(unknown(group, member)),
        }
    }

    /// The groups with live members (of either protocol), in name order.
    pub fn groups_with_members(&self) -> Vec<String> {
        self.membership.live_groups()
    }

    /// The group's classic members, by member id.
    pub fn classic_members(&self, group: &str) -> BTreeMap<String, ClassicMemberInfo> {
        let members = lock(&self.membership.classic.members);
        members
            .range((group.to_string(), String::new())..)
            .take_while(|((g, _), _)| g == group)
            .map(|((_, id), m)| (id.clone(), lock(m).info.clone()))
            .collect()
    }

    /// The live classic member `member` of `group`.
    fn classic_member(
        &self,
        group: &str,
        member: &str,
    ) -> Result<Arc<Mutex<ClassicMember>>, ClassicError> {
        let entry = self
            .membership
            .classic
            .get(group, member)
            .ok_or_else(|| unknown(group, member))?;
        if lock(&entry).handle.view_now().expelled.is_some() {
            self.membership.classic.remove(group, member);
            return Err(unknown(group, member));
        }
        Ok(entry)
    }
}

/// Expires the member's group's silent members every fifth of its session, and drops
/// the member once the coordinator removed it (or the broker shuts down).
async fn watch_member(
    coordinator: Arc<Coordinator>,
    group: String,
    id: String,
    mut view: watch::Receiver<MemberView>,
    session: Duration,
    shutdown: CancellationToken,
) {
    let mut expiry = tokio::time::interval((session / 5).max(Duration::from_millis(50)));
    expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            changed = view.changed() => {
                if changed.is_err() || view.borrow_and_update().expelled.is_some() {
                    break;
                }
            }
            _ = expiry.tick() => coordinator.expire(&group, Instant::now()),
        }
    }
    let removed = coordinator.classic.remove(&group, &id);
    drop(removed);
}

fn info_of(join: &ClassicJoin) -> ClassicMemberInfo {
    ClassicMemberInfo {
        client_id: join.client_id.clone(),
        protocol: join.protocol.clone(),
        metadata: join.metadata.clone(),
    }
}

fn unknown(group: &str, member: &str) -> ClassicError {
    ClassicError::UnknownMember {
        group: group.to_string(),
        member: member.to_string(),
    }
}

fn illegal(group: &str, member: &str, given: i32) -> ClassicError {
    ClassicError::IllegalGeneration {
        group: group.to_string(),
        member: member.to_string(),
        given,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
