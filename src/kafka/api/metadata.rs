//! Metadata: this node as the only broker, leader of every partition, and the topics
//! asked for (all when none are named). A missing topic is created when both the
//! listener (`--kafka-auto-create-topics`) and the client allow it.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};

use super::text;
use crate::broker::{BrokerError, NewTopic, TopicSummary};
use crate::kafka::context::{CLUSTER_ID, Context, NODE_ID};
use crate::kafka::errors::code_of;

/// Answers a Metadata request.
pub async fn handle(ctx: &Context, request: MetadataRequest, version: i16) -> MetadataResponse {
    let broker = MetadataResponseBroker::default()
        .with_node_id(BrokerId(NODE_ID))
        .with_host(text(&ctx.host))
        .with_port(ctx.port);
    let response = MetadataResponse::default()
        .with_brokers(vec![broker])
        .with_cluster_id(Some(text(CLUSTER_ID)))
        .with_controller_id(BrokerId(NODE_ID));
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
    let topics = match asked {
        None => existing.iter().map(|t| Ok(t.clone())).collect(),
        Some(names) => {
            let mut found = Vec::with_capacity(names.len());
            for name in names {
                found.push(lookup(ctx, &existing, name, create).await);
            }
            found
        }
    };
    response.with_topics(topics.into_iter().map(describe).collect())
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

fn describe(topic: Result<TopicSummary, (String, i16)>) -> MetadataResponseTopic {
    match topic {
        Ok(summary) => {
            let partitions = (0..summary.partitions)
                .map(|index| {
                    MetadataResponsePartition::default()
                        .with_partition_index(index as i32)
                        .with_leader_id(BrokerId(NODE_ID))
                        .with_leader_epoch(0)
                        .with_replica_nodes(vec![BrokerId(NODE_ID)])
                        .with_isr_nodes(vec![BrokerId(NODE_ID)])
                })
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
