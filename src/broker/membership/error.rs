//! Why a membership operation was refused. Each message names the group and, where a
//! client must act on it, the current generation (also in a trailer, see
//! `service::status`), so a fenced member knows to rejoin.

use super::strategy::TopicPartition;

/// A membership operation or a fenced commit was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MembershipError {
    /// A join named no topic.
    #[error("joining group {group} needs at least one topic")]
    NoTopics {
        /// The group.
        group: String,
    },
    /// The session timeout asked for is outside the accepted range.
    #[error("session_timeout_ms {asked_ms} is not between {min_ms} and {max_ms}")]
    SessionTimeout {
        /// What the join asked for.
        asked_ms: u64,
        /// Shortest accepted.
        min_ms: u64,
        /// Longest accepted.
        max_ms: u64,
    },
    /// The join asks for other topics than the group's live members read.
    #[error(
        "group {group} has live members reading topics {current:?}; a member joining for {asked:?} must ask for the same topics (or use another group)"
    )]
    TopicsDiffer {
        /// The group.
        group: String,
        /// The group's topics.
        current: Vec<String>,
        /// The join's topics.
        asked: Vec<String>,
    },
    /// The join asks for another assignment strategy than the group's live members use.
    #[error(
        "group {group} assigns with strategy {current}; a member asking for {asked} cannot join it"
    )]
    StrategyDiffers {
        /// The group.
        group: String,
        /// The group's strategy.
        current: &'static str,
        /// The join's strategy.
        asked: &'static str,
    },
    /// The group already has as many members as allowed.
    #[error("group {group} already has {max} members, the limit (--max-group-members)")]
    TooManyMembers {
        /// The group.
        group: String,
        /// The cap.
        max: usize,
    },
    /// The member is not (or no longer) in the group: it left, its session expired, or
    /// another instance with its member_instance_id replaced it.
    #[error(
        "member {member} is not in group {group} (generation {generation}): its session expired or it was replaced; rejoin"
    )]
    UnknownMember {
        /// The group.
        group: String,
        /// The member id given.
        member: String,
        /// The group's current generation.
        generation: u64,
    },
    /// A commit named a generation the member's ownership does not cover.
    #[error(
        "commit for {partition} in group {group} carries generation {given}, but member {member} owns it since generation {owned_since} (current generation {generation})"
    )]
    StaleGeneration {
        /// The group.
        group: String,
        /// The member.
        member: String,
        /// The partition.
        partition: TopicPartition,
        /// The generation the commit carried.
        given: u64,
        /// Since when the member owns the partition.
        owned_since: u64,
        /// The group's current generation.
        generation: u64,
    },
    /// A member committed for a partition it does not own.
    #[error(
        "member {member} of group {group} does not own {partition} (current generation {generation}); only its owner may commit it"
    )]
    NotOwner {
        /// The group.
        group: String,
        /// The member.
        member: String,
        /// The partition.
        partition: TopicPartition,
        /// The group's current generation.
        generation: u64,
    },
    /// The operation needs a group without live members (Kafka's NON_EMPTY_GROUP).
    #[error(
        "group {group} has {members} live member(s) (generation {generation}): {what} is refused while it has members; commits must come from the members, with their member_id and generation"
    )]
    HasMembers {
        /// The group.
        group: String,
        /// How many members it has.
        members: usize,
        /// The group's current generation.
        generation: u64,
        /// What was refused ("a commit without membership", "deleting the group", ...).
        what: &'static str,
    },
}

impl MembershipError {
    /// The group's current generation, when the error is a fencing the client must
    /// react to by rejoining or waiting.
    pub fn generation(&self) -> Option<u64> {
        match self {
            MembershipError::UnknownMember { generation, .. }
            | MembershipError::StaleGeneration { generation, .. }
            | MembershipError::NotOwner { generation, .. }
            | MembershipError::HasMembers { generation, .. } => Some(*generation),
            _ => None,
        }
    }
}
