//! The in-memory table the offsets log replays into: every live commit by (group,
//! topic, partition), sorted, plus the number of groups. Keys sort by group first, so
//! one group's commits are a contiguous range; every whole-table question (list, idle
//! groups, topics) is one pass over the keys.

use std::collections::{BTreeMap, BTreeSet};

use super::codec::Scope;
use super::{Committed, GroupKey};

/// Live commits. Not synchronized: the store wraps it in a lock.
#[derive(Debug, Default)]
pub struct Table {
    entries: BTreeMap<GroupKey, Committed>,
    groups: usize,
}

impl Table {
    /// Commits of `group`, in key order.
    fn range<'a>(&'a self, group: &'a str) -> impl Iterator<Item = (&'a GroupKey, &'a Committed)> {
        let first = GroupKey {
            group: group.to_string(),
            topic: String::new(),
            partition: 0,
        };
        self.entries
            .range(first..)
            .take_while(move |(k, _)| k.group == group)
    }

    /// Whether `group` has at least one commit.
    pub fn has_group(&self, group: &str) -> bool {
        self.range(group).next().is_some()
    }

    /// Whether `key` has a commit.
    pub fn contains(&self, key: &GroupKey) -> bool {
        self.entries.contains_key(key)
    }

    /// How many groups have at least one commit.
    pub fn group_count(&self) -> usize {
        self.groups
    }

    /// How many keys are live.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Stores `value` for `key`.
    pub fn insert(&mut self, key: GroupKey, value: Committed) {
        if !self.has_group(&key.group) {
            self.groups += 1;
        }
        self.entries.insert(key, value);
    }

    /// Removes `key`; true if it was there.
    pub fn remove(&mut self, key: &GroupKey) -> bool {
        let removed = self.entries.remove(key).is_some();
        if removed && !self.has_group(&key.group) {
            self.groups -= 1;
        }
        removed
    }

    /// The keys of `scope`.
    pub fn keys_in(&self, scope: &Scope) -> Vec<GroupKey> {
        match scope {
            Scope::Group(group) => self.range(group).map(|(k, _)| k.clone()).collect(),
            Scope::Topic(_) => self
                .entries
                .keys()
                .filter(|k| scope.contains(k))
                .cloned()
                .collect(),
        }
    }

    /// Removes every key of `scope`; returns them.
    pub fn remove_scope(&mut self, scope: &Scope) -> Vec<GroupKey> {
        let keys = self.keys_in(scope);
        keys.iter().for_each(|k| {
            self.remove(k);
        });
        keys
    }

    /// The commits of `group` for `topic`, by partition.
    pub fn committed(&self, group: &str, topic: &str) -> BTreeMap<u32, Committed> {
        self.range(group)
            .skip_while(|(k, _)| k.topic.as_str() < topic)
            .take_while(|(k, _)| k.topic == topic)
            .map(|(k, v)| (k.partition, v.clone()))
            .collect()
    }

    /// Every commit of `group`, by key.
    pub fn group(&self, group: &str) -> Vec<(GroupKey, Committed)> {
        self.range(group)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Every group with the topics it committed for, in name order (one pass).
    pub fn summaries(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::with_capacity(self.groups);
        for key in self.entries.keys() {
            match out.last_mut() {
                Some((group, topics)) if *group == key.group => {
                    if topics.last() != Some(&key.topic) {
                        topics.push(key.topic.clone());
                    }
                }
                _ => out.push((key.group.clone(), vec![key.topic.clone()])),
            }
        }
        out
    }

    /// Every topic any group committed for (one pass).
    pub fn topics(&self) -> BTreeSet<String> {
        self.entries.keys().map(|k| k.topic.clone()).collect()
    }

    /// Groups whose newest commit is older than `horizon_ms` (one pass).
    pub fn idle_groups(&self, horizon_ms: i64) -> Vec<String> {
        let mut newest: Vec<(&str, i64)> = Vec::new();
        for (key, value) in &self.entries {
            match newest.last_mut() {
                Some((group, time)) if *group == key.group => {
                    *time = (*time).max(value.commit_time_ms)
                }
                _ => newest.push((&key.group, value.commit_time_ms)),
            }
        }
        newest
            .into_iter()
            .filter(|(_, time)| *time < horizon_ms)
            .map(|(group, _)| group.to_string())
            .collect()
    }
}
