//! Assignment strategies: which member of a group reads which partition.
//!
//! Pure functions of the members, the partitions and who owns what now, so they are
//! tested without a server and the coordinator stays a state machine around them.
//! Both give every partition to exactly one member and balance the counts (no member
//! has two more partitions than another).
//!
//! - [`Strategy::Sticky`] (the default): every member keeps as many of the partitions
//!   it owns as its fair share allows, and only the rest move. With cooperative
//!   rebalancing a moved partition pauses until its previous owner releases it, so
//!   fewer moves mean less paused work.
//! - [`Strategy::RoundRobin`]: partitions in (topic, partition) order dealt to the
//!   members in id order, ignoring who owns what; predictable, but a join or leave can
//!   move most partitions.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// One partition of one topic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
}

impl TopicPartition {
    /// `topic`/`partition`.
    pub fn new(topic: &str, partition: u32) -> TopicPartition {
        TopicPartition {
            topic: topic.to_string(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

/// Partitions by member id.
pub type Assignment = BTreeMap<String, BTreeSet<TopicPartition>>;

/// How a group's partitions are spread over its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Fewest moves: members keep what they own up to their fair share (the default).
    #[default]
    Sticky,
    /// Partitions dealt in order to members in id order.
    RoundRobin,
}

impl Strategy {
    /// The assignment of `partitions` to `members` given what each `owns` now.
    /// Partitions and members not listed in `owns` are simply new. Empty without
    /// members.
    pub fn assign(
        self,
        members: &BTreeSet<String>,
        partitions: &[TopicPartition],
        owns: &Assignment,
    ) -> Assignment {
        match self {
            Strategy::Sticky => sticky(members, partitions, owns),
            Strategy::RoundRobin => round_robin(members, partitions),
        }
    }

    /// The name used on the wire and in `group describe`.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Sticky => "sticky",
            Strategy::RoundRobin => "round-robin",
        }
    }
}

/// Partitions in order, dealt to members in id order.
fn round_robin(members: &BTreeSet<String>, partitions: &[TopicPartition]) -> Assignment {
    let mut assignment: Assignment = members
        .iter()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    let ids: Vec<&String> = members.iter().collect();
    if ids.is_empty() {
        return assignment;
    }
    let mut sorted = partitions.to_vec();
    sorted.sort();
    for (i, tp) in sorted.into_iter().enumerate() {
        if let Some(set) = assignment.get_mut(ids[i % ids.len()]) {
            set.insert(tp);
        }
    }
    assignment
}

/// Each member keeps what it owns up to its share; the rest go to the emptiest members.
fn sticky(
    members: &BTreeSet<String>,
    partitions: &[TopicPartition],
    owns: &Assignment,
) -> Assignment {
    let mut assignment: Assignment = members
        .iter()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    if members.is_empty() {
        return assignment;
    }
    let wanted: BTreeSet<&TopicPartition> = partitions.iter().collect();
    let (base, extra) = (
        partitions.len() / members.len(),
        partitions.len() % members.len(),
    );
    // The members owning the most get the larger shares: they then give up the least.
    let mut by_owned: Vec<(&String, usize)> = members
        .iter()
        .map(|m| {
            (
                m,
                owns.get(m)
                    .map_or(0, |o| o.iter().filter(|tp| wanted.contains(tp)).count()),
            )
        })
        .collect();
    by_owned.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let capacity: BTreeMap<&String, usize> = by_owned
        .iter()
        .enumerate()
        .map(|(i, (m, _))| (*m, base + usize::from(i < extra)))
        .collect();
    let mut taken: BTreeSet<&TopicPartition> = BTreeSet::new();
    for (member, cap) in &capacity {
        let Some(owned) = owns.get(*member) else {
            continue;
        };
        let keep: Vec<&TopicPartition> = owned
            .iter()
            .filter_map(|tp| wanted.get(tp).copied())
            .filter(|tp| !taken.contains(tp))
            .take(*cap)
            .collect();
        for tp in keep {
            taken.insert(tp);
            if let Some(set) = assignment.get_mut(*member) {
                set.insert(tp.clone());
            }
        }
    }
    let mut free: Vec<&TopicPartition> = wanted.difference(&taken).copied().collect();
    free.sort();
    for tp in free {
        // The member furthest below its share, ties by id.
        let target = capacity
            .iter()
            .filter(|(m, cap)| assignment.get(**m).map_or(0, BTreeSet::len) < **cap)
            .min_by_key(|(m, cap)| {
                let has = assignment.get(**m).map_or(0, BTreeSet::len);
                (has as isize - **cap as isize, m.to_string())
            })
            .map(|(m, _)| (*m).clone());
        if let Some(member) = target
            && let Some(set) = assignment.get_mut(&member)
        {
            set.insert(tp.clone());
        }
    }
    assignment
}

/// How many partitions change owner from `before` to `after` (a partition without an
/// owner before does not count).
pub fn moves(before: &Assignment, after: &Assignment) -> usize {
    let owner_after: BTreeMap<&TopicPartition, &String> = after
        .iter()
        .flat_map(|(m, set)| set.iter().map(move |tp| (tp, m)))
        .collect();
    before
        .iter()
        .flat_map(|(m, set)| set.iter().map(move |tp| (tp, m)))
        .filter(|(tp, m)| owner_after.get(tp) != Some(m))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    fn topic(n: u32) -> Vec<TopicPartition> {
        (0..n).map(|p| TopicPartition::new("t", p)).collect()
    }

    /// Every partition exactly once, counts within one of each other.
    fn assert_complete_and_balanced(a: &Assignment, partitions: &[TopicPartition]) {
        let mut seen = BTreeSet::new();
        for set in a.values() {
            for tp in set {
                assert!(seen.insert(tp.clone()), "{tp} assigned twice in {a:?}");
            }
        }
        let all: BTreeSet<_> = partitions.iter().cloned().collect();
        assert_eq!(seen, all, "not every partition assigned: {a:?}");
        let counts: Vec<usize> = a.values().map(BTreeSet::len).collect();
        let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(max - min <= 1, "unbalanced: {a:?}");
    }

    #[test]
    fn both_strategies_assign_every_partition_once_and_balance() {
        for strategy in [Strategy::Sticky, Strategy::RoundRobin] {
            for (n_members, n_partitions) in [(1, 1), (3, 6), (4, 6), (5, 3), (2, 7)] {
                let ids: Vec<String> = (0..n_members).map(|i| format!("m{i}")).collect();
                let m: BTreeSet<String> = ids.into_iter().collect();
                let parts = topic(n_partitions);
                let a = strategy.assign(&m, &parts, &Assignment::new());
                assert_complete_and_balanced(&a, &parts);
                assert_eq!(a.len(), n_members, "every member listed");
            }
        }
    }

    #[test]
    fn no_members_means_no_assignment() {
        let a = Strategy::Sticky.assign(&members(&[]), &topic(3), &Assignment::new());
        assert!(a.is_empty());
    }

    #[test]
    fn sticky_moves_only_what_a_new_member_needs() {
        let parts = topic(6);
        let three = members(&["a", "b", "c"]);
        let before = Strategy::Sticky.assign(&three, &parts, &Assignment::new());
        let four = members(&["a", "b", "c", "d"]);
        let after = Strategy::Sticky.assign(&four, &parts, &before);
        assert_complete_and_balanced(&after, &parts);
        // d needs one partition (6 over 4 is 2,2,1,1): exactly one moves.
        assert_eq!(moves(&before, &after), 1, "{before:?} -> {after:?}");
        let rr_after = Strategy::RoundRobin.assign(&four, &parts, &before);
        assert!(
            moves(&before, &rr_after) > 1,
            "round-robin reshuffles: {rr_after:?}"
        );
    }

    #[test]
    fn sticky_hands_only_a_leaving_members_partitions_over() {
        let parts = topic(6);
        let three = members(&["a", "b", "c"]);
        let before = Strategy::Sticky.assign(&three, &parts, &Assignment::new());
        let mut owns = before.clone();
        owns.remove("b");
        let after = Strategy::Sticky.assign(&members(&["a", "c"]), &parts, &owns);
        assert_complete_and_balanced(&after, &parts);
        assert_eq!(moves(&owns, &after), 0, "the survivors keep theirs");
        assert!(after["a"].is_superset(&before["a"]));
        assert!(after["c"].is_superset(&before["c"]));
    }

    #[test]
    fn sticky_ignores_owned_partitions_that_no_longer_exist_or_are_claimed_twice() {
        let parts = topic(2);
        let mut owns = Assignment::new();
        owns.insert(
            "a".into(),
            [TopicPartition::new("t", 0), TopicPartition::new("gone", 0)].into(),
        );
        owns.insert("b".into(), [TopicPartition::new("t", 0)].into());
        let after = Strategy::Sticky.assign(&members(&["a", "b"]), &parts, &owns);
        assert_complete_and_balanced(&after, &parts);
        assert!(after["a"].contains(&TopicPartition::new("t", 0)));
    }

    #[test]
    fn round_robin_deals_in_order() {
        let a = Strategy::RoundRobin.assign(&members(&["a", "b"]), &topic(4), &Assignment::new());
        let parts_of = |m: &str| a[m].iter().map(|tp| tp.partition).collect::<Vec<_>>();
        assert_eq!(parts_of("a"), vec![0, 2]);
        assert_eq!(parts_of("b"), vec![1, 3]);
    }
}
