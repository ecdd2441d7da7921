//! The cluster's description on the wire.

use crate::broker::ClusterDescription;
use crate::cluster::leader_balance::{BalanceReport, MoveOutcome};
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

/// What a leadership balance did, on the wire.
pub fn balance_reply(report: BalanceReport) -> pb::BalanceLeadersResponse {
    pb::BalanceLeadersResponse {
        partitions: report
            .moves
            .into_iter()
            .map(|m| {
                let (result, reason) = match m.outcome {
                    MoveOutcome::Moved => (pb::LeaderMoveResult::Moved, String::new()),
                    MoveOutcome::Skipped(reason) => (pb::LeaderMoveResult::Skipped, reason),
                    MoveOutcome::Failed(reason) => (pb::LeaderMoveResult::Failed, reason),
                };
                pb::LeaderMove {
                    topic: m.topic,
                    partition: m.partition,
                    from: m.from,
                    to: m.to,
                    result: result as i32,
                    reason,
                }
            })
            .collect(),
        unreachable: report
            .unreachable
            .into_iter()
            .map(|(node_id, reason)| pb::UnreachableNode { node_id, reason })
            .collect(),
    }
}
