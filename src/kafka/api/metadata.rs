//! Metadata: the brokers (this node alone, or in a cluster every node with a Kafka
//! listener), each partition's leader and replicas (see [`ClusterView`]), and the
//! topics asked for (all when none are named). A missing topic is created when both
//! the listener (`--kafka-auto-create-topics`) and the client allow it.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};

use super::text;
use crate::broker::{BrokerError, NewTopic, TopicSummary};
use crate::kafka::cluster_view::ClusterView;
use crate::kafka::context::{CLUSTER_ID, Context};
use crate::kafka::errors::code_of;

/// Answers a Metadata request.
pub async fn handle(ctx: &Context, request: MetadataRequest, version: i16) -> MetadataResponse {
    let response = MetadataResponse::default().with_cluster_id(Some(text(CLUSTER_ID)));
    let existing = match ctx.broker.list_topics() {
        Ok(topics) => topics,
        Err(err) => return response.with_error_code(code_of(&err)),
    };
    let asked: Option<Vec<String>> = match request.topics {
        None => None,
        // Version 0 has no null list: empty means every topic.
        Some(topics) if topics.is_empty() && version == 0 => None,
        Some(topics) => Some(
            topics
                .into_iter()
                .filter_map(|t| t.name.map(|n| n.0.to_string()))
                .collect(),
        ),
    };
    let create = ctx.auto_create_topics && (version < 4 || request.allow_auto_topic_creation);
    let topics: Vec<_> = match asked {
        None => existing.iter().map(|t| Ok(t.clone())).collect(),
        Some(names) => {
            let mut found = Vec::with_capacity(names.len());
            for name in names {
                found.push(lookup(ctx, &existing, name, create).await);
            }
            found
        }
    };
    // Read after the lookups, so the partitions of a topic just created are placed.
    let view = match ClusterView::of(ctx) {
        Ok(view) => view,
        Err(err) => return response.with_error_code(code_of(&err)),
    };
    let brokers = view
        .brokers
        .iter()
        .map(|node| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(node.id))
                .with_host(text(&node.host))
                .with_port(node.port)
        })
        .collect();
    let described = topics.into_iter().map(|t| describe(&view, t)).collect();
    response
        .with_brokers(brokers)
        .with_controller_id(BrokerId(view.controller))
        .with_topics(described)
}

/// `name` among `existing`, created if allowed and missing.
async fn lookup(
    ctx: &Context,
    existing: &[TopicSummary],
    name: String,
    create: bool,
) -> Result<TopicSummary, (String, i16)> {
    if let Some(topic) = existing.iter().find(|t| t.name == name) {
        return Ok(topic.clone());
    }
    let unknown = ResponseError::UnknownTopicOrPartition.code();
    if !create {
        return Err((name, unknown));
    }
    let request = NewTopic {
        name: name.clone(),
        ..NewTopic::default()
    };
    match ctx.broker.create_topic(request).await {
        Ok(summary) => Ok(summary),
        // Created by someone else meanwhile: report it as it is now.
        Err(BrokerError::TopicExists { .. }) => ctx
            .broker
            .list_topics()
            .ok()
            .and_then(|all| all.into_iter().find(|t| t.name == name))
            .ok_or((name, unknown)),
        Err(err) => Err((name, code_of(&err))),
    }
}

fn describe(
    view: &ClusterView,
    topic: Result<TopicSummary, (String, i16)>,
) -> MetadataResponseTopic {
    match topic {
        Ok(summary) => {
            let partitions = (0..summary.partitions)
                .map(|index| describe_partition(view, &summary.name, index))
                .collect();
            MetadataResponseTopic::default()
                .with_name(Some(TopicName(text(&summary.name))))
                .with_partitions(partitions)
        }
        Err((name, code)) => MetadataResponseTopic::default()
            .with_name(Some(TopicName(text(&name))))
            .with_error_code(code),
    }
}

/// One partition's leader and replicas. Every replica is reported in sync: a replica
/// that is behind is caught up by Raft, and acknowledged records are on a majority
/// whatever clients are told. The leader epoch is always 0, so clients never discard
/// an answer as older than one they had.
fn describe_partition(view: &ClusterView, topic: &str, index: u32) -> MetadataResponsePartition {
    let nodes = view.partition(topic, index);
    let replicas: Vec<BrokerId> = nodes.replicas.iter().map(|id| BrokerId(*id)).collect();
    let partition = MetadataResponsePartition::default()
        .with_partition_index(index as i32)
        .with_leader_epoch(0)
        .with_isr_nodes(replicas.clone())
        .with_replica_nodes(replicas);
    match nodes.leader {
        Some(leader) => partition.with_leader_id(BrokerId(leader)),
        None => partition
            .with_leader_id(BrokerId(-1))
            .with_error_code(ResponseError::LeaderNotAvailable.code()),
    }
}
