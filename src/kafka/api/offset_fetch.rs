//! OffsetFetch: a group's committed offsets (-1 where it has none), read from the
//! broker's group offsets, whoever committed them (Kafka or gRPC clients). Versions
//! before 8 ask for one group, version 8 for a list.

use std::collections::BTreeMap;

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};

use super::text;
use crate::broker::{BrokerError, PartitionLag};
use crate::kafka::context::Context;
use crate::kafka::errors::code_of;

/// One partition's answer: (partition, committed offset or -1, metadata, error code).
type Position = (i32, i64, String, i16);
/// One topic's partitions, by topic name.
type Positions = Vec<(String, Vec<Position>)>;

/// Answers an OffsetFetch request.
pub async fn handle(
    ctx: &Context,
    request: OffsetFetchRequest,
    version: i16,
) -> OffsetFetchResponse {
    if version >= 8 {
        let mut groups = Vec::with_capacity(request.groups.len());
        for group in request.groups {
            let asked = group.topics.map(|topics| {
                topics
                    .into_iter()
                    .map(|t| (t.name.as_str().to_string(), t.partition_indexes))
                    .collect()
            });
            let answer = OffsetFetchResponseGroup::default().with_group_id(group.group_id.clone());
            groups.push(match positions(ctx, group.group_id.as_str(), asked).await {
                Ok(found) => answer.with_topics(found.into_iter().map(topic_v8).collect()),
                Err(code) => answer.with_error_code(code),
            });
        }
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let asked = request.topics.map(|topics| {
        topics
            .into_iter()
            .map(|t| (t.name.as_str().to_string(), t.partition_indexes))
            .collect()
    });
    match positions(ctx, request.group_id.as_str(), asked).await {
        Ok(found) => {
            OffsetFetchResponse::default().with_topics(found.into_iter().map(topic).collect())
        }
        // Versions before 2 have no group error: the answer is then empty.
        Err(code) if version >= 2 => OffsetFetchResponse::default().with_error_code(code),
        Err(_) => OffsetFetchResponse::default(),
    }
}

/// The group's positions in the asked partitions (`None`: everything it committed);
/// an error code for the whole group.
async fn positions(
    ctx: &Context,
    group: &str,
    asked: Option<Vec<(String, Vec<i32>)>>,
) -> Result<Positions, i16> {
    let Some(asked) = asked else {
        return match ctx.broker.describe_group(group).await {
            Ok(lags) => Ok(by_topic(lags)),
            Err(BrokerError::GroupNotFound { .. }) => Ok(Vec::new()),
            Err(err) => Err(code_of(&err)),
        };
    };
    let mut found = Vec::with_capacity(asked.len());
    for (topic, partitions) in asked {
        let positions = match ctx.broker.committed_offsets(group, &topic).await {
            Ok(lags) => partitions
                .iter()
                .map(|&p| position_of(p, lags.iter().find(|l| l.partition as i32 == p)))
                .collect(),
            Err(err @ BrokerError::InvalidGroupName { .. }) => return Err(code_of(&err)),
            Err(err) => {
                let code = code_of(&err);
                partitions
                    .iter()
                    .map(|&p| (p, -1, String::new(), code))
                    .collect()
            }
        };
        found.push((topic, positions));
    }
    Ok(found)
}

fn position_of(partition: i32, lag: Option<&PartitionLag>) -> Position {
    match lag.and_then(|l| l.committed.as_ref()) {
        Some(c) => (partition, c.next_offset as i64, c.metadata.clone(), 0),
        None if lag.is_some() => (partition, -1, String::new(), 0),
        None => (
            partition,
            -1,
            String::new(),
            kafka_protocol::ResponseError::UnknownTopicOrPartition.code(),
        ),
    }
}

fn by_topic(lags: Vec<PartitionLag>) -> Positions {
    let mut topics: BTreeMap<String, Vec<Position>> = BTreeMap::new();
    for lag in lags {
        let position = position_of(lag.partition as i32, Some(&lag));
        topics.entry(lag.topic).or_default().push(position);
    }
    topics.into_iter().collect()
}

fn topic((name, positions): (String, Vec<Position>)) -> OffsetFetchResponseTopic {
    let partitions = positions
        .into_iter()
        .map(|(partition, offset, metadata, code)| {
            OffsetFetchResponsePartition::default()
                .with_partition_index(partition)
                .with_committed_offset(offset)
                .with_metadata(Some(text(&metadata)))
                .with_error_code(code)
        })
        .collect();
    OffsetFetchResponseTopic::default()
        .with_name(TopicName(text(&name)))
        .with_partitions(partitions)
}

fn topic_v8((name, positions): (String, Vec<Position>)) -> OffsetFetchResponseTopics {
    let partitions = positions
        .into_iter()
        .map(|(partition, offset, metadata, code)| {
            OffsetFetchResponsePartitions::default()
                .with_partition_index(partition)
                .with_committed_offset(offset)
                .with_metadata(Some(text(&metadata)))
                .with_error_code(code)
        })
        .collect();
    OffsetFetchResponseTopics::default()
        .with_name(TopicName(text(&name)))
        .with_partitions(partitions)
}
