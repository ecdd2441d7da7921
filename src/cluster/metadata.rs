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

use super::group_offsets::{GroupChange, GroupOffsets, OffsetEntry, StoredOffset};
use super::types::NodeId;

/// One topic as the cluster knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicPlacement {
    /// The topic's configuration, as the broker stores it (opaque here).
    pub config: serde_json::Value,
    /// For each partition, the nodes holding its replicas; the first is the
    /// preferred leader.
    pub replicas: Vec<Vec<NodeId>>,
    /// Partitions whose replicas were ever reassigned (since storage format version
    /// 11), by number. Their groups exist already: a node gaining a replica of one
    /// waits to be added to the group instead of initialising it. Absent when empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub moves: BTreeMap<u32, Move>,
}

/// A partition's last reassignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    /// The replicas before it.
    pub from: Vec<NodeId>,
    /// Whether the group's voters are the new replicas: until then the nodes of
    /// `from` that lost their replica keep running it (as voters of the group) without
    /// serving reads.
    pub done: bool,
}

/// The client listeners a node announced, other than its gRPC address (which is its
/// address in the cluster's membership).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeListeners {
    /// Where Kafka clients reach the node's Kafka listener (`host:port`, as advertised),
    /// if it runs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka: Option<String>,
}

/// A named idempotent producer: its name and newest epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedProducer {
    /// The name it asked for.
    pub name: String,
    /// The newest epoch handed out; older ones are fenced.
    pub epoch: i16,
}

/// The cluster's metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    /// Topics by name.
    pub topics: BTreeMap<String, TopicPlacement>,
    /// Consumer groups' committed positions (absent from metadata written before
    /// groups were replicated).
    #[serde(default)]
    pub groups: GroupOffsets,
    /// The listeners each node announced (since storage format version 10; absent
    /// in metadata written before). Every node that has started since has a record,
    /// which tells a node that lost its data from one that never started.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub listeners: BTreeMap<NodeId, NodeListeners>,
    /// Named idempotent producers by producer id (since storage format version 10;
    /// absent when there are none): every node hands out and fences their epochs from
    /// this one registry.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub named_producers: BTreeMap<i64, NamedProducer>,
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
    /// Adds partitions to a topic (since storage format version 9): applied only if
    /// the topic exists and still has `from` partitions, so two additions racing from
    /// the same count cannot both apply.
    AddPartitions {
        /// The topic's name.
        name: String,
        /// The partition count the proposer saw.
        from: u32,
        /// The replicas of each new partition, numbered from `from` on; the first is
        /// the preferred leader.
        replicas: Vec<Vec<NodeId>>,
    },
    /// Replaces a topic's configuration (since storage format version 10): applied
    /// only if the topic exists and its configuration is still `from`, so two changes
    /// racing from the same configuration cannot both apply (nor undo each other).
    AlterTopicConfig {
        /// The topic's name.
        name: String,
        /// The configuration the proposer changed.
        from: serde_json::Value,
        /// The new configuration, as the broker stores it.
        config: serde_json::Value,
    },
    /// Records the listeners node `node` runs (since storage format version 10); each
    /// node announces its own at start when the cluster's record differs, so every
    /// node that has ever started has a record (an empty one without listeners).
    SetListeners {
        /// The node.
        node: NodeId,
        /// Its listeners.
        listeners: NodeListeners,
    },
    /// Gives the producer named `name` its identity (since storage format version 10):
    /// its id with the epoch bumped, or `fresh_id` (issued by the proposer, unique in
    /// the cluster) at epoch 0 for a new name or one whose epoch ran out. Refused
    /// when a new name would make more than `max_names`.
    InitProducer {
        /// The producer's name.
        name: String,
        /// The id a new name gets.
        fresh_id: i64,
        /// Most names the registry holds.
        max_names: usize,
    },
    /// Records a partition's new replicas (since storage format version 11): applied
    /// only if its replicas are still `from` (or already `replicas`, when a move is
    /// run again to finish it). The group's leader then changes the group's voters.
    ReassignPartition {
        /// The topic's name.
        name: String,
        /// The partition.
        partition: u32,
        /// The replicas the proposer saw.
        from: Vec<NodeId>,
        /// The new replicas; the first is the preferred leader.
        replicas: Vec<NodeId>,
    },
    /// Marks a partition's reassignment done (since storage format version 11): its
    /// group's voters are `replicas`, so the nodes that lost a replica stop it.
    /// Applied only if the partition's replicas are still `replicas`.
    FinishReassignment {
        /// The topic's name.
        name: String,
        /// The partition.
        partition: u32,
        /// The replicas the move made.
        replicas: Vec<NodeId>,
    },
    /// Deletes a topic, if it exists.
    DeleteTopic {
        /// The topic's name.
        name: String,
    },
    /// Stores a group's positions in partitions of a topic, all or none: refused when
    /// the topic or one of the partitions does not exist.
    CommitOffsets {
        /// The group.
        group: String,
        /// The topic.
        topic: String,
        /// The positions.
        offsets: Vec<OffsetEntry>,
        /// When the proposer accepted the commit, ms since the epoch.
        time_ms: i64,
    },
    /// Removes every position of a group.
    DeleteGroup {
        /// The group.
        group: String,
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
    /// No topic (or group, or partition) of that name existed; nothing changed.
    NotFound,
    /// The group's positions were stored.
    Committed,
    /// The group's positions were removed.
    GroupDeleted,
    /// The topic's partitions were added.
    PartitionsAdded,
    /// The topic's partition count was no longer the one the command grew from;
    /// nothing changed.
    PartitionsChanged,
    /// The topic's configuration was replaced.
    ConfigAltered,
    /// The topic's configuration was no longer the one the command changed; nothing
    /// changed.
    ConfigChanged,
    /// A node's listeners were recorded.
    ListenersSet,
    /// A named producer's identity.
    ProducerInitialized {
        /// Its id.
        producer_id: i64,
        /// Its new epoch.
        epoch: i16,
    },
    /// A new producer name was refused: the registry holds as many as it may.
    TooManyProducerNames,
    /// The partition's new replicas were recorded (or its reassignment marked done).
    Reassigned,
    /// The partition's replicas were no longer the ones the command started from;
    /// nothing changed.
    PlacementChanged,
}

impl ClusterState {
    /// Applies `command`; what it changed in the groups, if anything, is returned for
    /// the node's group store to mirror.
    pub fn apply(&mut self, command: Command) -> (CommandResult, Option<GroupChange>) {
        match command {
            Command::CreateTopic { name, placement } => {
                if self.topics.contains_key(&name) {
                    return (CommandResult::AlreadyExists, None);
                }
                self.topics.insert(name, placement);
                (CommandResult::Created, None)
            }
            Command::AddPartitions {
                name,
                from,
                replicas,
            } => self.add_partitions(&name, from, replicas),
            Command::AlterTopicConfig { name, from, config } => {
                (self.alter_config(&name, &from, config), None)
            }
            Command::SetListeners { node, listeners } => {
                self.listeners.insert(node, listeners);
                (CommandResult::ListenersSet, None)
            }
            Command::InitProducer {
                name,
                fresh_id,
                max_names,
            } => (self.init_producer(name, fresh_id, max_names), None),
            Command::ReassignPartition {
                name,
                partition,
                from,
                replicas,
            } => (self.reassign(&name, partition, &from, replicas), None),
            Command::FinishReassignment {
                name,
                partition,
                replicas,
            } => (self.finish_reassignment(&name, partition, &replicas), None),
            Command::DeleteTopic { name } => {
                if self.topics.remove(&name).is_none() {
                    return (CommandResult::NotFound, None);
                }
                self.groups.retain(|_, topics| {
                    topics.remove(&name);
                    !topics.is_empty()
                });
                let change = GroupChange::DeleteTopic { topic: name };
                (CommandResult::Deleted, Some(change))
            }
            Command::CommitOffsets {
                group,
                topic,
                offsets,
                time_ms,
            } => self.commit(group, topic, offsets, time_ms),
            Command::DeleteGroup { group } => match self.groups.remove(&group) {
                Some(_) => (
                    CommandResult::GroupDeleted,
                    Some(GroupChange::DeleteGroup { group }),
                ),
                None => (CommandResult::NotFound, None),
            },
        }
    }

    fn add_partitions(
        &mut self,
        name: &str,
        from: u32,
        replicas: Vec<Vec<NodeId>>,
    ) -> (CommandResult, Option<GroupChange>) {
        let Some(placement) = self.topics.get_mut(name) else {
            return (CommandResult::NotFound, None);
        };
        if placement.replicas.len() != from as usize {
            return (CommandResult::PartitionsChanged, None);
        }
        placement.replicas.extend(replicas);
        // The config is the broker's topic summary, opaque here but for its partition
        // count, kept equal to the placement's so a node creating the topic from it
        // (one that joins later, say) opens every partition.
        let count = placement.replicas.len();
        if let Some(fields) = placement.config.as_object_mut() {
            fields.insert("partitions".into(), serde_json::Value::from(count));
        }
        (CommandResult::PartitionsAdded, None)
    }

    fn init_producer(&mut self, name: String, fresh_id: i64, max_names: usize) -> CommandResult {
        let known = self
            .named_producers
            .iter()
            .find(|(_, producer)| producer.name == name)
            .map(|(id, producer)| (*id, producer.epoch));
        let (producer_id, epoch) = match known {
            Some((id, epoch)) if epoch < i16::MAX => (id, epoch + 1),
            Some((id, _)) => {
                // Its epochs ran out: the name starts again under the new id.
                self.named_producers.remove(&id);
                (fresh_id, 0)
            }
            None if self.named_producers.len() >= max_names => {
                return CommandResult::TooManyProducerNames;
            }
            None => (fresh_id, 0),
        };
        self.named_producers
            .insert(producer_id, NamedProducer { name, epoch });
        CommandResult::ProducerInitialized { producer_id, epoch }
    }

    fn alter_config(
        &mut self,
        name: &str,
        from: &serde_json::Value,
        mut config: serde_json::Value,
    ) -> CommandResult {
        let Some(placement) = self.topics.get_mut(name) else {
            return CommandResult::NotFound;
        };
        if placement.config != *from {
            return CommandResult::ConfigChanged;
        }
        // The partition count is the placement's, whatever the proposer wrote.
        if let Some(fields) = config.as_object_mut() {
            let count = placement.replicas.len();
            fields.insert("partitions".into(), serde_json::Value::from(count));
        }
        placement.config = config;
        CommandResult::ConfigAltered
    }

    fn reassign(
        &mut self,
        name: &str,
        partition: u32,
        from: &[NodeId],
        replicas: Vec<NodeId>,
    ) -> CommandResult {
        let Some(placement) = self.topics.get_mut(name) else {
            return CommandResult::NotFound;
        };
        let Some(current) = placement.replicas.get_mut(partition as usize) else {
            return CommandResult::NotFound;
        };
        if *current == replicas {
            // Run again to finish a move: the move stays pending until marked done.
            return CommandResult::Reassigned;
        }
        if current.as_slice() != from {
            return CommandResult::PlacementChanged;
        }
        *current = replicas;
        let from = from.to_vec();
        placement
            .moves
            .insert(partition, Move { from, done: false });
        CommandResult::Reassigned
    }

    fn finish_reassignment(
        &mut self,
        name: &str,
        partition: u32,
        replicas: &[NodeId],
    ) -> CommandResult {
        let Some(placement) = self.topics.get_mut(name) else {
            return CommandResult::NotFound;
        };
        if placement
            .replicas
            .get(partition as usize)
            .map(Vec::as_slice)
            != Some(replicas)
        {
            return CommandResult::PlacementChanged;
        }
        if let Some(pending) = placement.moves.get_mut(&partition) {
            pending.done = true;
        }
        CommandResult::Reassigned
    }

    fn commit(
        &mut self,
        group: String,
        topic: String,
        offsets: Vec<OffsetEntry>,
        time_ms: i64,
    ) -> (CommandResult, Option<GroupChange>) {
        // Checked here, in log order, so a commit can never land for a topic deleted
        // after the proposer looked (and resurface if the name is created again).
        let Some(placement) = self.topics.get(&topic) else {
            return (CommandResult::NotFound, None);
        };
        let partitions = placement.replicas.len();
        if offsets.iter().any(|o| o.partition as usize >= partitions) {
            return (CommandResult::NotFound, None);
        }
        let stored = self
            .groups
            .entry(group.clone())
            .or_default()
            .entry(topic.clone())
            .or_default();
        for entry in &offsets {
            stored.insert(
                entry.partition,
                StoredOffset {
                    next_offset: entry.next_offset,
                    metadata: entry.metadata.clone(),
                    time_ms,
                },
            );
        }
        let change = GroupChange::Commit {
            group,
            topic,
            offsets,
            time_ms,
        };
        (CommandResult::Committed, Some(change))
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

/// Replicas for partitions `existing.len()..partitions` of a topic placed as
/// `existing`: as many replicas as its partition 0 has (at most the node count), and
/// the rotation [`place`] gave it continued, so leaders stay spread.
pub fn place_more(
    nodes: &[NodeId],
    existing: &[Vec<NodeId>],
    partitions: u32,
) -> Result<Vec<Vec<NodeId>>, String> {
    let mut sorted = nodes.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let first = existing.first();
    let replication_factor = first
        .map_or(sorted.len().min(3), Vec::len)
        .min(sorted.len());
    // Partition 0's preferred leader sits at position `shift`.
    let shift = first
        .and_then(|set| set.first())
        .and_then(|leader| sorted.iter().position(|n| n == leader))
        .unwrap_or(0);
    let mut placed = place(&sorted, partitions, replication_factor, shift)?;
    Ok(placed.split_off(existing.len().min(placed.len())))
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
            moves: BTreeMap::new(),
        };
        let create = Command::CreateTopic {
            name: "t".into(),
            placement,
        };
        assert_eq!(state.apply(create.clone()).0, CommandResult::Created);
        assert_eq!(state.apply(create).0, CommandResult::AlreadyExists);
        let delete = Command::DeleteTopic { name: "t".into() };
        assert_eq!(state.apply(delete.clone()).0, CommandResult::Deleted);
        assert_eq!(state.apply(delete).0, CommandResult::NotFound);
    }

    fn commit(topic: &str, partition: u32, next_offset: u64) -> Command {
        Command::CommitOffsets {
            group: "g".into(),
            topic: topic.into(),
            offsets: vec![OffsetEntry {
                partition,
                next_offset,
                metadata: "m".into(),
            }],
            time_ms: 7,
        }
    }

    #[test]
    fn commits_land_only_for_existing_partitions_and_go_with_their_topic() {
        let mut state = ClusterState::default();
        let create = Command::CreateTopic {
            name: "t".into(),
            placement: TopicPlacement {
                config: serde_json::json!({}),
                replicas: vec![vec![1], vec![2]],
                moves: BTreeMap::new(),
            },
        };
        state.apply(create.clone());
        assert_eq!(
            state.apply(commit("missing", 0, 1)),
            (CommandResult::NotFound, None)
        );
        assert_eq!(
            state.apply(commit("t", 2, 1)),
            (CommandResult::NotFound, None)
        );
        let (result, change) = state.apply(commit("t", 1, 5));
        assert_eq!(result, CommandResult::Committed);
        assert!(matches!(change, Some(GroupChange::Commit { .. })));
        assert_eq!(state.groups["g"]["t"][&1].next_offset, 5);
        assert_eq!(state.groups["g"]["t"][&1].time_ms, 7);

        // Deleting the topic drops its commits; a new topic of that name starts clean.
        state.apply(Command::DeleteTopic { name: "t".into() });
        assert!(state.groups.is_empty());
        state.apply(create);
        let delete = Command::DeleteGroup { group: "g".into() };
        assert_eq!(state.apply(delete.clone()).0, CommandResult::NotFound);
        state.apply(commit("t", 0, 3));
        assert_eq!(state.apply(delete).0, CommandResult::GroupDeleted);
        assert!(state.groups.is_empty());
    }

    #[test]
    fn group_commands_are_these_json_golden_bytes() {
        let commit = r#"{"CommitOffsets":{"group":"g","topic":"t","offsets":[{"partition":0,"next_offset":5,"metadata":"m"}],"time_ms":7}}"#;
        let command = Command::CommitOffsets {
            group: "g".into(),
            topic: "t".into(),
            offsets: vec![OffsetEntry {
                partition: 0,
                next_offset: 5,
                metadata: "m".into(),
            }],
            time_ms: 7,
        };
        assert_eq!(serde_json::to_string(&command).unwrap(), commit);
        let delete = Command::DeleteGroup { group: "g".into() };
        assert_eq!(
            serde_json::to_string(&delete).unwrap(),
            r#"{"DeleteGroup":{"group":"g"}}"#
        );
    }

    #[test]
    fn partitions_are_added_once_from_the_count_the_proposer_saw() {
        let mut state = ClusterState::default();
        state.apply(Command::CreateTopic {
            name: "t".into(),
            placement: TopicPlacement {
                config: serde_json::json!({"name": "t", "partitions": 1}),
                replicas: vec![vec![1, 2]],
                moves: BTreeMap::new(),
            },
        });
        let add = Command::AddPartitions {
            name: "t".into(),
            from: 1,
            replicas: vec![vec![2, 3], vec![3, 1]],
        };
        assert_eq!(state.apply(add.clone()).0, CommandResult::PartitionsAdded);
        assert_eq!(state.topics["t"].replicas.len(), 3);
        assert_eq!(state.topics["t"].replicas[2], vec![3, 1]);
        assert_eq!(state.topics["t"].config["partitions"], 3);
        // The same command again (a racing proposer's) no longer matches the count.
        assert_eq!(state.apply(add).0, CommandResult::PartitionsChanged);
        assert_eq!(state.topics["t"].replicas.len(), 3);
        let missing = Command::AddPartitions {
            name: "missing".into(),
            from: 0,
            replicas: vec![vec![1]],
        };
        assert_eq!(state.apply(missing).0, CommandResult::NotFound);
    }

    #[test]
    fn add_partitions_is_these_json_golden_bytes() {
        let golden = r#"{"AddPartitions":{"name":"t","from":2,"replicas":[[3,1],[1,2]]}}"#;
        let command = Command::AddPartitions {
            name: "t".into(),
            from: 2,
            replicas: vec![vec![3, 1], vec![1, 2]],
        };
        assert_eq!(serde_json::to_string(&command).unwrap(), golden);
        assert_eq!(serde_json::from_str::<Command>(golden).unwrap(), command);
    }

    #[test]
    fn a_config_is_replaced_only_from_the_config_the_proposer_saw() {
        let mut state = ClusterState::default();
        let old =
            serde_json::json!({"name": "t", "partitions": 2, "config": {"retention_ms": null}});
        state.apply(Command::CreateTopic {
            name: "t".into(),
            placement: TopicPlacement {
                config: old.clone(),
                replicas: vec![vec![1, 2], vec![2, 1]],
                moves: BTreeMap::new(),
            },
        });
        // A proposer that wrote a stale count does not change it.
        let new = serde_json::json!({"name": "t", "partitions": 1, "config": {"retention_ms": 5}});
        let alter = Command::AlterTopicConfig {
            name: "t".into(),
            from: old,
            config: new,
        };
        assert_eq!(state.apply(alter.clone()).0, CommandResult::ConfigAltered);
        let stored = &state.topics["t"].config;
        assert_eq!(stored["config"]["retention_ms"], 5);
        assert_eq!(stored["partitions"], 2);
        // The same change again no longer starts from the stored config.
        assert_eq!(state.apply(alter).0, CommandResult::ConfigChanged);
        let missing = Command::AlterTopicConfig {
            name: "missing".into(),
            from: serde_json::json!({}),
            config: serde_json::json!({}),
        };
        assert_eq!(state.apply(missing).0, CommandResult::NotFound);
    }

    #[test]
    fn alter_topic_config_is_these_json_golden_bytes() {
        let golden = r#"{"AlterTopicConfig":{"name":"t","from":{"partitions":1},"config":{"partitions":1,"retention_ms":5}}}"#;
        let command = Command::AlterTopicConfig {
            name: "t".into(),
            from: serde_json::json!({"partitions": 1}),
            config: serde_json::json!({"partitions": 1, "retention_ms": 5}),
        };
        assert_eq!(serde_json::to_string(&command).unwrap(), golden);
        assert_eq!(serde_json::from_str::<Command>(golden).unwrap(), command);
    }

    #[test]
    fn a_node_records_its_listeners_even_when_it_has_none() {
        let mut state = ClusterState::default();
        let kafka = NodeListeners {
            kafka: Some("127.0.0.1:9092".into()),
        };
        let set = Command::SetListeners {
            node: 2,
            listeners: kafka.clone(),
        };
        assert_eq!(state.apply(set).0, CommandResult::ListenersSet);
        assert_eq!(state.listeners[&2], kafka);
        let json = serde_json::to_string(&state).unwrap();
        assert!(
            json.ends_with(r#""listeners":{"2":{"kafka":"127.0.0.1:9092"}}}"#),
            "{json}"
        );
        let none = Command::SetListeners {
            node: 2,
            listeners: NodeListeners::default(),
        };
        assert_eq!(state.apply(none).0, CommandResult::ListenersSet);
        assert_eq!(
            serde_json::to_string(&state).unwrap(),
            r#"{"topics":{},"groups":{},"listeners":{"2":{}}}"#
        );
        // Without any record the state has the shape of version 9.
        assert_eq!(
            serde_json::to_string(&ClusterState::default()).unwrap(),
            r#"{"topics":{},"groups":{}}"#
        );
    }

    #[test]
    fn set_listeners_is_these_json_golden_bytes() {
        let golden = r#"{"SetListeners":{"node":3,"listeners":{"kafka":"10.0.0.3:9092"}}}"#;
        let command = Command::SetListeners {
            node: 3,
            listeners: NodeListeners {
                kafka: Some("10.0.0.3:9092".into()),
            },
        };
        assert_eq!(serde_json::to_string(&command).unwrap(), golden);
        assert_eq!(serde_json::from_str::<Command>(golden).unwrap(), command);
    }

    #[test]
    fn a_named_producer_keeps_its_id_and_bumps_its_epoch_within_the_limit() {
        let mut state = ClusterState::default();
        let init = |name: &str, fresh_id| Command::InitProducer {
            name: name.into(),
            fresh_id,
            max_names: 2,
        };
        let first = CommandResult::ProducerInitialized {
            producer_id: 7,
            epoch: 0,
        };
        assert_eq!(state.apply(init("a", 7)).0, first);
        let again = CommandResult::ProducerInitialized {
            producer_id: 7,
            epoch: 1,
        };
        assert_eq!(state.apply(init("a", 8)).0, again);
        state.apply(init("b", 9));
        assert_eq!(
            state.apply(init("c", 10)).0,
            CommandResult::TooManyProducerNames
        );
        // A name whose epochs ran out starts again under the new id.
        state.named_producers.get_mut(&7).unwrap().epoch = i16::MAX;
        let restarted = CommandResult::ProducerInitialized {
            producer_id: 11,
            epoch: 0,
        };
        assert_eq!(state.apply(init("a", 11)).0, restarted);
        assert!(!state.named_producers.contains_key(&7));
        assert_eq!(
            serde_json::to_string(&state.named_producers).unwrap(),
            r#"{"9":{"name":"b","epoch":0},"11":{"name":"a","epoch":0}}"#
        );
    }

    #[test]
    fn init_producer_is_these_json_golden_bytes() {
        let golden = r#"{"InitProducer":{"name":"orders","fresh_id":42,"max_names":10000}}"#;
        let command = Command::InitProducer {
            name: "orders".into(),
            fresh_id: 42,
            max_names: 10_000,
        };
        assert_eq!(serde_json::to_string(&command).unwrap(), golden);
        assert_eq!(serde_json::from_str::<Command>(golden).unwrap(), command);
    }

    #[test]
    fn version_9_commands_still_decode() {
        let add = r#"{"AddPartitions":{"name":"t","from":2,"replicas":[[3,1],[1,2]]}}"#;
        let decoded: Command = serde_json::from_str(add).unwrap();
        assert!(matches!(decoded, Command::AddPartitions { from: 2, .. }));
    }

    #[test]
    fn more_partitions_continue_the_topic_rotation() {
        let existing = place(&[1, 2, 3], 2, 2, 1).unwrap();
        let more = place_more(&[3, 2, 1], &existing, 5).unwrap();
        assert_eq!(more.len(), 3);
        let all = place(&[1, 2, 3], 5, 2, 1).unwrap();
        assert_eq!(more, all[2..]);
        // A single replica stays a single replica.
        assert_eq!(place_more(&[1, 2, 3], &[vec![2]], 2).unwrap(), [vec![3]]);
    }

    fn reassign(from: Vec<NodeId>, replicas: Vec<NodeId>) -> Command {
        Command::ReassignPartition {
            name: "t".into(),
            partition: 0,
            from,
            replicas,
        }
    }

    #[test]
    fn a_reassignment_applies_from_the_replicas_the_proposer_saw_and_is_finished_once() {
        let mut state = ClusterState::default();
        state.apply(Command::CreateTopic {
            name: "t".into(),
            placement: TopicPlacement {
                config: serde_json::json!({}),
                replicas: vec![vec![1, 2, 3]],
                moves: BTreeMap::new(),
            },
        });
        let stale = reassign(vec![3, 2, 1], vec![2, 3, 4]);
        assert_eq!(state.apply(stale).0, CommandResult::PlacementChanged);
        assert!(state.topics["t"].moves.is_empty());
        let command = reassign(vec![1, 2, 3], vec![2, 3, 4]);
        assert_eq!(state.apply(command.clone()).0, CommandResult::Reassigned);
        assert_eq!(state.topics["t"].replicas[0], vec![2, 3, 4]);
        let pending = Move {
            from: vec![1, 2, 3],
            done: false,
        };
        assert_eq!(state.topics["t"].moves[&0], pending);
        // Run again (to finish it): nothing changes, the move stays pending.
        assert_eq!(state.apply(command).0, CommandResult::Reassigned);
        assert_eq!(state.topics["t"].moves[&0], pending);
        let finish = |replicas| Command::FinishReassignment {
            name: "t".into(),
            partition: 0,
            replicas,
        };
        assert_eq!(
            state.apply(finish(vec![1, 2, 3])).0,
            CommandResult::PlacementChanged
        );
        assert!(!state.topics["t"].moves[&0].done);
        assert_eq!(
            state.apply(finish(vec![2, 3, 4])).0,
            CommandResult::Reassigned
        );
        assert!(state.topics["t"].moves[&0].done);
        let missing = Command::ReassignPartition {
            name: "t".into(),
            partition: 1,
            from: vec![1],
            replicas: vec![2],
        };
        assert_eq!(state.apply(missing).0, CommandResult::NotFound);
    }

    #[test]
    fn reassignment_commands_are_these_json_golden_bytes() {
        let golden =
            r#"{"ReassignPartition":{"name":"t","partition":1,"from":[1,2,3],"replicas":[2,3,4]}}"#;
        let command = Command::ReassignPartition {
            name: "t".into(),
            partition: 1,
            from: vec![1, 2, 3],
            replicas: vec![2, 3, 4],
        };
        assert_eq!(serde_json::to_string(&command).unwrap(), golden);
        assert_eq!(serde_json::from_str::<Command>(golden).unwrap(), command);
        let golden = r#"{"FinishReassignment":{"name":"t","partition":1,"replicas":[2,3,4]}}"#;
        let command = Command::FinishReassignment {
            name: "t".into(),
            partition: 1,
            replicas: vec![2, 3, 4],
        };
        assert_eq!(serde_json::to_string(&command).unwrap(), golden);
        assert_eq!(serde_json::from_str::<Command>(golden).unwrap(), command);
        // A placement with a move, as metadata snapshots store it.
        let placement = TopicPlacement {
            config: serde_json::json!({}),
            replicas: vec![vec![2, 3, 4]],
            moves: BTreeMap::from([(
                0,
                Move {
                    from: vec![1, 2, 3],
                    done: true,
                },
            )]),
        };
        let golden =
            r#"{"config":{},"replicas":[[2,3,4]],"moves":{"0":{"from":[1,2,3],"done":true}}}"#;
        assert_eq!(serde_json::to_string(&placement).unwrap(), golden);
        assert_eq!(
            serde_json::from_str::<TopicPlacement>(golden).unwrap(),
            placement
        );
    }

    #[test]
    fn version_9_commands_still_decode_and_encode_the_same() {
        let create =
            r#"{"CreateTopic":{"name":"t","placement":{"config":{},"replicas":[[1,2,3]]}}}"#;
        let decoded: Command = serde_json::from_str(create).unwrap();
        assert_eq!(serde_json::to_string(&decoded).unwrap(), create);
        let add = r#"{"AddPartitions":{"name":"t","from":1,"replicas":[[2,3,1]]}}"#;
        let decoded: Command = serde_json::from_str(add).unwrap();
        assert_eq!(serde_json::to_string(&decoded).unwrap(), add);
        let state = r#"{"topics":{"t":{"config":{},"replicas":[[1,2,3]]}},"groups":{}}"#;
        let decoded: ClusterState = serde_json::from_str(state).unwrap();
        assert!(decoded.topics["t"].moves.is_empty());
        assert_eq!(serde_json::to_string(&decoded).unwrap(), state);
    }

    #[test]
    fn version_6_topic_commands_still_decode() {
        let create =
            r#"{"CreateTopic":{"name":"t","placement":{"config":{},"replicas":[[1,2,3]]}}}"#;
        let decoded: Command = serde_json::from_str(create).unwrap();
        assert!(matches!(decoded, Command::CreateTopic { .. }));
        let delete: Command = serde_json::from_str(r#"{"DeleteTopic":{"name":"t"}}"#).unwrap();
        assert_eq!(delete, Command::DeleteTopic { name: "t".into() });
    }

    #[test]
    fn metadata_written_before_groups_were_replicated_still_reads() {
        let old = r#"{"topics":{}}"#;
        let state: ClusterState = serde_json::from_str(old).unwrap();
        assert!(state.groups.is_empty());
    }
}
