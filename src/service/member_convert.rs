//! Conversions of the `GroupSubscribe` messages and of group membership: the join
//! request to the broker's [`JoinGroup`], assignments and member descriptions to the
//! wire.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::broker::NoCommitStart;
use crate::broker::membership::{
    GroupMembership, JoinGroup, MemberSummary, Strategy, TopicPartition,
};
use crate::proto::v1 as pb;
use crate::storage::ReadLimits;

use super::convert::{
    DEFAULT_SUBSCRIBE_RECORDS, InvalidField, MAX_SUBSCRIBE_RECORDS, SUBSCRIBE_CHUNK_BYTES,
};

/// A validated join: what to ask the broker, and how to read the member's partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberJoin {
    /// The broker's join request.
    pub join: JoinGroup,
    /// Where partitions without a commit start.
    pub no_commit: NoCommitStart,
    /// Records per message.
    pub chunk: ReadLimits,
}

/// The join of a `GroupSubscribe` stream, from `client`.
pub fn join_from_wire(join: pb::JoinGroup, client: String) -> Result<MemberJoin, InvalidField> {
    let strategy = match pb::AssignmentStrategy::try_from(join.strategy) {
        Ok(pb::AssignmentStrategy::Unspecified | pb::AssignmentStrategy::Sticky) => {
            Strategy::Sticky
        }
        Ok(pb::AssignmentStrategy::RoundRobin) => Strategy::RoundRobin,
        Err(_) => {
            return Err(InvalidField {
                field: "strategy",
                reason: format!("unknown assignment strategy {}", join.strategy),
            });
        }
    };
    let no_commit = match pb::StartPosition::try_from(join.reset) {
        Ok(pb::StartPosition::Unspecified | pb::StartPosition::Earliest) => NoCommitStart::Earliest,
        Ok(pb::StartPosition::Latest) => NoCommitStart::Latest,
        Err(_) => {
            return Err(InvalidField {
                field: "reset",
                reason: format!("unknown start position {}", join.reset),
            });
        }
    };
    let max_records = match join.max_records_per_message as usize {
        0 => DEFAULT_SUBSCRIBE_RECORDS,
        n => n.min(MAX_SUBSCRIBE_RECORDS),
    };
    let session_timeout = match join.session_timeout_ms {
        0 => None,
        ms => Some(Duration::from_millis(u64::from(ms))),
    };
    Ok(MemberJoin {
        join: JoinGroup {
            group: join.group,
            topics: join.topics,
            instance_id: join.member_instance_id,
            client,
            session_timeout,
            strategy,
        },
        no_commit,
        chunk: ReadLimits {
            max_records,
            max_bytes: SUBSCRIBE_CHUNK_BYTES,
        },
    })
}

/// Partitions grouped by topic, in order.
pub fn by_topic<'a>(
    partitions: impl IntoIterator<Item = &'a TopicPartition>,
) -> Vec<pb::TopicPartitions> {
    let mut grouped: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for tp in partitions {
        grouped.entry(&tp.topic).or_default().push(tp.partition);
    }
    grouped
        .into_iter()
        .map(|(topic, mut partitions)| {
            partitions.sort_unstable();
            pb::TopicPartitions {
                topic: topic.to_string(),
                partitions,
            }
        })
        .collect()
}

/// The partitions a release names.
pub fn release_from_wire(release: pb::ReleasePartitions) -> Vec<TopicPartition> {
    release
        .partitions
        .into_iter()
        .flat_map(|t| {
            let topic = t.topic;
            t.partitions
                .into_iter()
                .map(move |p| TopicPartition::new(&topic, p))
        })
        .collect()
}

/// The assignment message for a member now delivering `assigned`, newly `added`, and
/// told to release `revoked`.
pub fn assignment_to_wire(
    generation: u64,
    assigned: &BTreeSet<TopicPartition>,
    added: &BTreeSet<TopicPartition>,
    revoked: &BTreeSet<TopicPartition>,
) -> pb::GroupSubscribeResponse {
    pb::GroupSubscribeResponse {
        event: Some(pb::group_subscribe_response::Event::Assignment(
            pb::GroupAssignment {
                generation,
                assigned: by_topic(assigned),
                added: by_topic(added),
                revoked: by_topic(revoked),
            },
        )),
    }
}

impl From<MemberSummary> for pb::GroupMemberDescription {
    fn from(member: MemberSummary) -> Self {
        pb::GroupMemberDescription {
            member_id: member.member_id,
            member_instance_id: member.instance_id,
            client_address: member.client,
            joined_at_ms: member.joined_at_ms,
            assigned: by_topic(&member.assigned),
            revoking: by_topic(&member.revoking),
            connected: member.connected,
        }
    }
}

/// The membership fields of a `DescribeGroup` reply: generation, strategy, members.
pub fn membership_to_wire(
    membership: Option<GroupMembership>,
) -> (u64, String, Vec<pb::GroupMemberDescription>) {
    match membership {
        None => (0, String::new(), Vec::new()),
        Some(m) => (
            m.generation,
            m.strategy.name().to_string(),
            m.members.into_iter().map(Into::into).collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_join_is_converted_with_its_defaults() {
        let join = pb::JoinGroup {
            group: "g".into(),
            topics: vec!["t".into()],
            ..Default::default()
        };
        let got = join_from_wire(join, "10.0.0.1:5".into()).unwrap();
        assert_eq!(got.join.strategy, Strategy::Sticky, "sticky is the default");
        assert_eq!(got.join.session_timeout, None);
        assert_eq!(got.no_commit, NoCommitStart::Earliest);
        assert_eq!(got.chunk.max_records, DEFAULT_SUBSCRIBE_RECORDS);
        let bad = pb::JoinGroup {
            strategy: 99,
            ..Default::default()
        };
        assert_eq!(
            join_from_wire(bad, String::new()).unwrap_err().field,
            "strategy"
        );
    }

    #[test]
    fn partitions_are_grouped_by_topic_and_back() {
        let tps: BTreeSet<_> = [
            TopicPartition::new("b", 1),
            TopicPartition::new("a", 2),
            TopicPartition::new("a", 0),
        ]
        .into();
        let wire = by_topic(&tps);
        assert_eq!(wire.len(), 2);
        assert_eq!(wire[0].topic, "a");
        assert_eq!(wire[0].partitions, vec![0, 2]);
        let back: BTreeSet<_> = release_from_wire(pb::ReleasePartitions { partitions: wire })
            .into_iter()
            .collect();
        assert_eq!(back, tps);
    }
}
