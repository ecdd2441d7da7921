//! The broker operations of group members: joining (with its validation), subscribing
//! to a member's partitions from the group's commits, and commits fenced by
//! membership. A [`GroupMember`] is the handle of one joined member: dropping it is the
//! member's disconnect.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::{
    Coordinator, DEFAULT_SESSION_TIMEOUT, GroupMembership, JoinSpec, MAX_SESSION_TIMEOUT,
    MIN_SESSION_TIMEOUT, MemberView, MembershipError, Strategy, TopicPartition,
};
use crate::broker::group_types::{NoCommitStart, validate_group_name};
use crate::broker::groups::{off_worker, validate_commit_request};
use crate::broker::partition::Partition;
use crate::broker::{
    Broker, BrokerError, CommitResult, OffsetCommit, PartitionLag, PartitionOffsets, Subscription,
};
use crate::storage::ReadLimits;

/// What a joining member asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroup {
    /// The group.
    pub group: String,
    /// The topics to read (at least one; repeats are ignored).
    pub topics: Vec<String>,
    /// Static membership: a stable id that survives restarts of the member.
    pub instance_id: Option<String>,
    /// Where the member connects from, for `describe`.
    pub client: String,
    /// How long it may stay silent; [`DEFAULT_SESSION_TIMEOUT`] when `None`.
    pub session_timeout: Option<Duration>,
    /// The assignment strategy.
    pub strategy: Strategy,
}

/// One joined member. Dropping it disconnects the member.
pub struct GroupMember {
    coordinator: Arc<Coordinator>,
    group: String,
    id: String,
    view: watch::Receiver<MemberView>,
    session_timeout: Duration,
}

impl GroupMember {
    /// The member id the coordinator gave it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The group.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// How long it may stay silent before it is removed.
    pub fn session_timeout(&self) -> Duration {
        self.session_timeout
    }

    /// Its current view.
    pub fn view_now(&self) -> MemberView {
        self.view.borrow().clone()
    }

    /// A receiver of its views of its own, for a waiter that cannot borrow the member.
    pub fn watch(&self) -> watch::Receiver<MemberView> {
        self.view.clone()
    }

    /// Its views: the current one, and a wake-up whenever it changes.
    pub fn view(&mut self) -> &mut watch::Receiver<MemberView> {
        &mut self.view
    }

    /// The member was heard from.
    pub fn heartbeat(&self) -> Result<(), BrokerError> {
        Ok(self
            .coordinator
            .heartbeat(&self.group, &self.id, Instant::now())?)
    }

    /// The member committed and gives up `partitions`.
    pub fn release(&self, partitions: &[TopicPartition]) -> Result<(), BrokerError> {
        Ok(self
            .coordinator
            .release(&self.group, &self.id, partitions, Instant::now())?)
    }

    /// Removes members of its group whose session timed out (its own included).
    pub fn expire_sessions(&self) {
        self.coordinator.expire(&self.group, Instant::now());
    }
}

impl Drop for GroupMember {
    fn drop(&mut self) {
        self.coordinator
            .disconnect(&self.group, &self.id, Instant::now());
    }
}

impl Broker {
    /// Adds a member to a group for every partition of `join.topics`. Refused for a bad
    /// group name, no or unknown topics, a session timeout out of range, a full group,
    /// or topics or a strategy other than the group's live members use.
    pub fn join_group(&self, join: JoinGroup) -> Result<GroupMember, BrokerError> {
        self.join_group_as(join, None)
    }

    /// [`Broker::join_group`] under `id` when given (one handed out by
    /// [`Coordinator::new_member_id`]).
    pub(crate) fn join_group_as(
        &self,
        join: JoinGroup,
        id: Option<String>,
    ) -> Result<GroupMember, BrokerError> {
        self.accepting()?;
        validate_group_name(&join.group)?;
        if let Some(instance) = &join.instance_id {
            validate_instance_id(instance)?;
        }
        let topics: BTreeSet<String> = join.topics.iter().cloned().collect();
        if topics.is_empty() {
            return Err(MembershipError::NoTopics { group: join.group }.into());
        }
        let session_timeout = join.session_timeout.unwrap_or(DEFAULT_SESSION_TIMEOUT);
        check_session_timeout(session_timeout)?;
        let mut partitions = Vec::new();
        for topic in &topics {
            let open = self.topic(topic)?;
            partitions
                .extend((0..open.summary().partitions).map(|p| TopicPartition::new(topic, p)));
        }
        let spec = JoinSpec {
            topics,
            partitions,
            instance_id: join.instance_id,
            client: join.client,
            session_timeout,
            strategy: join.strategy,
        };
        let (id, view) = self
            .membership
            .join_as(&join.group, id, spec, Instant::now())?;
        Ok(GroupMember {
            coordinator: Arc::clone(&self.membership),
            group: join.group,
            id,
            view,
            session_timeout,
        })
    }

    /// The group's live membership (`None` when it has no members) and its positions
    /// with lag: every committed partition and, with members, every partition of their
    /// topics. [`BrokerError::GroupNotFound`] without commits or members.
    pub async fn describe_group_members(
        &self,
        group: &str,
    ) -> Result<(Option<GroupMembership>, Vec<PartitionLag>), BrokerError> {
        let membership = self.membership.describe(group);
        let mut positions = match self.describe_group(group).await {
            Ok(positions) => positions,
            Err(BrokerError::GroupNotFound { .. }) if membership.is_some() => Vec::new(),
            Err(err) => return Err(err),
        };
        if let Some(membership) = &membership {
            for topic in &membership.topics {
                positions.retain(|p| &p.topic != topic);
                positions.extend(self.committed_offsets(group, topic).await?);
            }
            positions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        }
        Ok((membership, positions))
    }

    /// Subscribes a member to `partitions` of `topic`: each at the given position (a
    /// partition it keeps delivering), or else at the group's commit like
    /// [`Broker::subscribe_group`].
    pub async fn subscribe_member(
        &self,
        group: &str,
        topic: &str,
        partitions: Vec<(u32, Option<u64>)>,
        no_commit: NoCommitStart,
        chunk: ReadLimits,
    ) -> Result<Subscription, BrokerError> {
        let open = self.topic(topic)?;
        let positions: BTreeMap<u32, Option<u64>> = partitions.into_iter().collect();
        let list = positions
            .keys()
            .map(|&p| open.partition(p).cloned())
            .collect::<Result<Vec<_>, _>>()?;
        let committed = self.groups.committed(group, topic);
        let start_of = move |p: &Partition, bounds: &PartitionOffsets| {
            let (earliest, latest) = (bounds.earliest, bounds.latest);
            let kept = positions.get(&p.number()).copied().flatten();
            Ok(match (kept, committed.get(&p.number()), no_commit) {
                (Some(position), _, _) => position.clamp(earliest, latest),
                (None, Some(c), _) => c.next_offset.clamp(earliest, latest),
                (None, None, NoCommitStart::Earliest) => earliest,
                (None, None, NoCommitStart::Latest) => latest,
            })
        };
        self.subscribe_from(list, None, start_of, chunk).await
    }

    /// Stores a commit fenced by membership: with `fence` (member id and generation)
    /// only the member owning every partition may commit; without, only while the group
    /// has no members. Checked and (on a single node) stored under the group's lock, so
    /// ownership cannot move in between; see [`Broker::finish_commit`] for a cluster.
    pub async fn commit_fenced(
        self: &Arc<Self>,
        group: &str,
        topic: &str,
        entries: Vec<OffsetCommit>,
        fence: Option<(String, u64)>,
    ) -> Result<Vec<CommitResult>, BrokerError> {
        self.accepting()?;
        validate_commit_request(group, &entries)?;
        self.await_commit_bounds(topic, &entries).await;
        let (broker, group_name, topic_name) =
            (Arc::clone(self), group.to_string(), topic.to_string());
        let checked_entries = entries.clone();
        let checked = off_worker(move || {
            let (group, topic, entries) = (group_name, topic_name, checked_entries);
            let partitions: Vec<u32> = entries.iter().map(|e| e.partition).collect();
            broker.membership.locked(&group, |state| {
                let fence = fence
                    .as_ref()
                    .map(|(id, generation)| (id.as_str(), *generation));
                match (state, fence) {
                    (Some(state), fence) => state.check_commit(fence, &topic, &partitions)?,
                    (None, Some((member, _))) => {
                        return Err(MembershipError::UnknownMember {
                            group: group.clone(),
                            member: member.to_string(),
                            generation: 0,
                        }
                        .into());
                    }
                    (None, None) => {}
                }
                broker.commit_blocking(&group, &topic, &entries)
            })
        })
        .await?;
        self.finish_commit(checked, group, topic, &entries).await
    }

    /// Runs `work` (blocking) unless `group` has members; `what` names it in the refusal.
    pub(crate) fn unless_members<T>(
        &self,
        group: &str,
        what: &'static str,
        work: impl FnOnce() -> Result<T, BrokerError>,
    ) -> Result<T, BrokerError> {
        self.membership.locked(group, |state| {
            if let Some(state) = state {
                state.check_empty(what)?;
            }
            work()
        })
    }

    /// Refuses `what` while `group` has members (for dry runs and early checks).
    pub(crate) fn check_no_members(
        &self,
        group: &str,
        what: &'static str,
    ) -> Result<(), BrokerError> {
        Ok(self.membership.check_empty(group, what)?)
    }
}

/// Refuses a session timeout outside the accepted range.
pub(super) fn check_session_timeout(session_timeout: Duration) -> Result<(), MembershipError> {
    if (MIN_SESSION_TIMEOUT..=MAX_SESSION_TIMEOUT).contains(&session_timeout) {
        return Ok(());
    }
    Err(MembershipError::SessionTimeout {
        asked_ms: session_timeout.as_millis() as u64,
        min_ms: MIN_SESSION_TIMEOUT.as_millis() as u64,
        max_ms: MAX_SESSION_TIMEOUT.as_millis() as u64,
    })
}

/// A member_instance_id follows the rules of group names (it is shown in the same
/// tables and logs).
fn validate_instance_id(instance: &str) -> Result<(), BrokerError> {
    validate_group_name(instance).map_err(|_| {
        BrokerError::InvalidRequest(format!(
            "member_instance_id {:?} must be 1 to 255 bytes without control characters",
            instance.chars().take(64).collect::<String>()
        ))
    })
}
