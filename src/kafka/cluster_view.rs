//! The cluster as Kafka clients see it: the brokers Metadata lists, each partition's
//! leader and replicas, the controller, and the group coordinator.
//!
//! A single node is broker 0, leader of everything. In a cluster a node's Kafka broker
//! id is its node id, and the nodes listed are those that run a Kafka listener and
//! announced its address to the cluster (`broker::listeners`). A partition's leader is
//! its Raft leader when this node knows it (it holds a replica), otherwise its
//! preferred leader; either way a node that holds a replica serves its reads and hands
//! produces to the real leader, so a guess that is out of date costs a hop, not an
//! error. The coordinator of every group is the metadata group's leader.

use std::collections::{BTreeMap, HashMap};

use super::context::{Context, NODE_ID};
use crate::broker::BrokerError;

/// A Kafka broker as Metadata and FindCoordinator name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaNode {
    /// Its broker id.
    pub id: i32,
    /// The host clients connect to.
    pub host: String,
    /// The port clients connect to.
    pub port: i32,
}

/// One partition's leader and replicas, as broker ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionNodes {
    /// The broker to send its requests to; `None` when no replica runs a Kafka
    /// listener that clients can reach.
    pub leader: Option<i32>,
    /// The brokers holding a replica (those with a Kafka listener).
    pub replicas: Vec<i32>,
}

/// The cluster as this node's Kafka listener describes it.
#[derive(Debug, Clone)]
pub struct ClusterView {
    /// This node's broker id.
    pub this: i32,
    /// Every broker clients can reach, this one included.
    pub brokers: Vec<KafkaNode>,
    /// The broker named as controller (the metadata group's leader when it can be
    /// reached, else this one).
    pub controller: i32,
    /// The group coordinator; `None` while the metadata group's leader is unknown or
    /// runs no Kafka listener.
    pub coordinator: Option<KafkaNode>,
    /// Replicated partitions by topic and number (empty for a single node).
    partitions: HashMap<(String, u32), PartitionNodes>,
}

impl ClusterView {
    /// The view from the node `ctx` serves.
    pub fn of(ctx: &Context) -> Result<ClusterView, BrokerError> {
        let this_node = |id| KafkaNode {
            id,
            host: ctx.host.clone(),
            port: ctx.port,
        };
        if ctx.broker.cluster().is_none() {
            return Ok(ClusterView {
                this: NODE_ID,
                brokers: vec![this_node(NODE_ID)],
                controller: NODE_ID,
                coordinator: Some(this_node(NODE_ID)),
                partitions: HashMap::new(),
            });
        }
        let description = ctx.broker.describe_cluster()?;
        let this = broker_id(description.node_id);
        let mut brokers: BTreeMap<i32, KafkaNode> = description
            .kafka
            .iter()
            .filter_map(|(id, address)| kafka_node(broker_id(*id), address))
            .collect();
        // This node serves this request, announced or not yet.
        brokers.insert(this, this_node(this));
        let leader = description.metadata_leader.map(broker_id);
        let coordinator = leader.and_then(|id| brokers.get(&id).cloned());
        let partitions = description
            .partitions
            .into_iter()
            .map(|status| {
                let replicas: Vec<i32> = status
                    .replicas
                    .iter()
                    .map(|id| broker_id(*id))
                    .filter(|id| brokers.contains_key(id))
                    .collect();
                let known = status
                    .leader
                    .map(broker_id)
                    .filter(|id| brokers.contains_key(id));
                let leader = known.or_else(|| replicas.first().copied());
                let nodes = PartitionNodes { leader, replicas };
                ((status.topic, status.partition), nodes)
            })
            .collect();
        Ok(ClusterView {
            this,
            controller: coordinator.as_ref().map_or(this, |c| c.id),
            coordinator,
            brokers: brokers.into_values().collect(),
            partitions,
        })
    }

    /// The leader and replicas of `partition` of `topic`: this node alone for a topic
    /// that is not replicated.
    pub fn partition(&self, topic: &str, partition: u32) -> PartitionNodes {
        self.partitions
            .get(&(topic.to_string(), partition))
            .cloned()
            .unwrap_or(PartitionNodes {
                leader: Some(self.this),
                replicas: vec![self.this],
            })
    }
}

/// A node id as a Kafka broker id (node ids are at most 1023).
fn broker_id(node: u64) -> i32 {
    i32::try_from(node).unwrap_or(i32::MAX)
}

/// The broker `id` at `address` (`host:port` or `[host]:port`); `None` for an address
/// that does not parse, which is left out rather than handed to clients.
fn kafka_node(id: i32, address: &str) -> Option<(i32, KafkaNode)> {
    let (host, port) = address.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port.parse().ok()?;
    if host.is_empty() {
        return None;
    }
    let node = KafkaNode {
        id,
        host: host.to_string(),
        port: i32::from(port),
    };
    Some((id, node))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announced_addresses_parse_with_and_without_brackets() {
        let (_, v4) = kafka_node(2, "10.0.0.2:9092").expect("ipv4");
        assert_eq!((v4.host.as_str(), v4.port), ("10.0.0.2", 9092));
        let (_, v6) = kafka_node(3, "[::1]:19092").expect("ipv6");
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 19092));
        assert_eq!(kafka_node(4, "no-port"), None);
        assert_eq!(kafka_node(4, ":9092"), None);
        assert_eq!(kafka_node(4, "host:99999"), None);
    }
}
