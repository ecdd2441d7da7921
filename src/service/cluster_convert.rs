//! The cluster's description on the wire.

use crate::broker::ClusterDescription;
use crate::proto::v1 as pb;

/// The cluster's nodes (id → address) on the wire, in id order, with the Kafka
/// addresses of those in `kafka`.
pub fn nodes_to_wire(
    nodes: std::collections::BTreeMap<u64, String>,
    kafka: &std::collections::BTreeMap<u64, String>,
) -> Vec<pb::ClusterNode> {
    nodes
        .into_iter()
        .map(|(id, address)| pb::ClusterNode {
            id,
            address,
            kafka_address: kafka.get(&id).cloned(),
        })
        .collect()
}

/// `description` as a `DescribeCluster` reply, keeping only the partitions of topics
/// `visible` allows.
pub fn describe_cluster_reply(
    description: ClusterDescription,
    visible: impl Fn(&str) -> bool,
) -> pb::DescribeClusterResponse {
    let kafka = description.kafka;
    pb::DescribeClusterResponse {
        node_id: description.node_id,
        nodes: nodes_to_wire(description.nodes, &kafka),
        partitions: description
            .partitions
            .into_iter()
            .filter(|p| visible(&p.topic))
            .map(|p| pb::PartitionReplicas {
                topic: p.topic,
                partition: p.partition,
                replicas: p.replicas,
                leader: p.leader,
                followers: p
                    .followers
                    .into_iter()
                    .map(|(node_id, entries_behind)| pb::FollowerLag {
                        node_id,
                        entries_behind,
                    })
                    .collect(),
            })
            .collect(),
        metadata_leader: description.metadata_leader,
    }
}
