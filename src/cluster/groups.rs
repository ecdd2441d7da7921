//! The replication groups a node runs, by name, so that incoming Raft messages reach
//! them and the broker can find a partition's group; and whether the node is
//! rejoining after losing its data, which keeps every group's vote to itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{PoisonError, RwLock};

use super::types::GroupRaft;

/// The name of the metadata group.
pub const METADATA_GROUP: &str = "meta";

/// The name of a partition's group.
pub fn partition_group(topic: &str, partition: u32) -> String {
    format!("p/{topic}/{partition}")
}

/// The running groups of a node.
#[derive(Default)]
pub struct Groups {
    by_name: RwLock<HashMap<String, GroupRaft>>,
    /// Set while the node rejoins after losing its data (see `super::rejoin`).
    rejoining: AtomicBool,
}

impl Groups {
    /// The group called `name`, if this node runs it.
    pub fn get(&self, name: &str) -> Option<GroupRaft> {
        self.by_name
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// Registers a started group; returns the one it replaced, if any.
    pub fn insert(&self, name: String, raft: GroupRaft) -> Option<GroupRaft> {
        self.by_name
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name, raft)
    }

    /// Unregisters a group (stopping it is the caller's).
    pub fn remove(&self, name: &str) -> Option<GroupRaft> {
        self.by_name
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name)
    }

    /// Whether the node is rejoining: its groups neither vote nor stand for election.
    pub fn rejoining(&self) -> bool {
        self.rejoining.load(Ordering::Acquire)
    }

    /// Marks the node as rejoining, or as done with it.
    pub fn set_rejoining(&self, rejoining: bool) {
        self.rejoining.store(rejoining, Ordering::Release);
    }

    /// Every group, for shutdown.
    pub fn all(&self) -> Vec<(String, GroupRaft)> {
        self.by_name
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}
