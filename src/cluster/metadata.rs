//! The cluster's metadata: which topics exist, with what configuration, and which
//! nodes hold each partition's replicas. Kept by the **metadata group**, a Raft group
//! of every node whose log is an internal partition log like any other; each entry is
//! a batch of one record whose value is a [`Command`] as JSON.
//!
//! Commands are applied in log order on every node, so every node computes the same
//! [`ClusterState`]. Where a choice is needed (the placement of a new topic's
//! replicas), the proposer makes it and the command carries the result, so applying
//! stays deterministic.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::types::NodeId;

/// One topic as the cluster knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicPlacement {
    /// The topic's configuration, as the broker stores it (opaque here).
    pub config: serde_json::Value,
    /// For each partition, the nodes holding its replicas; the first is the
    /// preferred leader.
    pub replicas: Vec<Vec<NodeId>>,
}

/// The cluster's metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    /// Topics by name.
    pub topics: BTreeMap<String, TopicPlacement>,
}

/// A change to the metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Creates a topic with the given placement, unless one of that name exists.
    CreateTopic {
        /// The topic's name.
        name: String,
        /// Its configuration and placement.
        placement: TopicPlacement,
    },
    /// Deletes a topic, if it exists.
    DeleteTopic {
        /// The topic's name.
        name: String,
    },
}

/// What applying a command did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandResult {
    /// The topic was created.
    Created,
    /// A topic of that name already existed; nothing changed.
    AlreadyExists,
    /// The topic was deleted.
    Deleted,
    /// No topic of that name existed; nothing changed.
    NotFound,
}

impl ClusterState {
    /// Applies `command`.
    pub fn apply(&mut self, command: Command) -> CommandResult {
        match command {
            Command::CreateTopic { name, placement } => {
                if self.topics.contains_key(&name) {
                    return CommandResult::AlreadyExists;
                }
                self.topics.insert(name, placement);
                CommandResult::Created
            }
            Command::DeleteTopic { name } => match self.topics.remove(&name) {
                Some(_) => CommandResult::Deleted,
                None => CommandResult::NotFound,
            },
        }
    }
}

/// Spreads `partitions` partitions of `replication_factor` replicas over `nodes`:
/// partition `p`'s replicas are the `replication_factor` nodes after position
/// `p + shift` in id order, so replicas and preferred leaders are balanced, and
/// `shift` (for example, the number of topics) keeps every topic's partition 0 from
/// being led by the same node.
pub fn place(
    nodes: &[NodeId],
    partitions: u32,
    replication_factor: usize,
    shift: usize,
) -> Result<Vec<Vec<NodeId>>, String> {
    let mut sorted = nodes.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if replication_factor == 0 || replication_factor > sorted.len() {
        return Err(format!(
            "the replication factor must be between 1 and the number of nodes ({}), not {replication_factor}",
            sorted.len()
        ));
    }
    Ok((0..partitions as usize)
        .map(|p| {
            (0..replication_factor)
                .map(|r| sorted[(p + shift + r) % sorted.len()])
                .collect()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_balances_replicas_and_leaders() {
        let placed = place(&[3, 1, 2], 6, 2, 0).unwrap();
        assert_eq!(placed[0], vec![1, 2]);
        assert_eq!(placed[1], vec![2, 3]);
        assert_eq!(placed[2], vec![3, 1]);
        let mut replicas = BTreeMap::<NodeId, usize>::new();
        let mut leaders = BTreeMap::<NodeId, usize>::new();
        for set in &placed {
            *leaders.entry(set[0]).or_default() += 1;
            for n in set {
                *replicas.entry(*n).or_default() += 1;
            }
            assert_ne!(set[0], set[1], "a partition's replicas are distinct nodes");
        }
        assert!(replicas.values().all(|&c| c == 4));
        assert!(leaders.values().all(|&c| c == 2));
        assert_eq!(place(&[1, 2, 3], 1, 3, 1).unwrap()[0], vec![2, 3, 1]);
    }

    #[test]
    fn a_replication_factor_outside_one_to_the_node_count_is_refused() {
        assert!(place(&[1, 2, 3], 1, 4, 0).is_err());
        assert!(place(&[1, 2, 3], 1, 0, 0).is_err());
    }

    #[test]
    fn commands_apply_once_and_report_what_they_did() {
        let mut state = ClusterState::default();
        let placement = TopicPlacement {
            config: serde_json::json!({}),
            replicas: vec![vec![1]],
        };
        let create = Command::CreateTopic {
            name: "t".into(),
            placement,
        };
        assert_eq!(state.apply(create.clone()), CommandResult::Created);
        assert_eq!(state.apply(create), CommandResult::AlreadyExists);
        let delete = Command::DeleteTopic { name: "t".into() };
        assert_eq!(state.apply(delete.clone()), CommandResult::Deleted);
        assert_eq!(state.apply(delete), CommandResult::NotFound);
    }
}
