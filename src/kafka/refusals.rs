//! The answers to requests the connection's token may not make (see
//! [`authorize`](super::authorize)): the API's own response, with the authorization
//! error on every topic, group or partition the request named.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::service::scope::Scope;

const TOPIC: i16 = ResponseError::TopicAuthorizationFailed.code();
const GROUP: i16 = ResponseError::GroupAuthorizationFailed.code();
const CLUSTER: i16 = ResponseError::ClusterAuthorizationFailed.code();

/// Produce: every partition TOPIC_AUTHORIZATION_FAILED.
pub fn produce(request: &ProduceRequest) -> ProduceResponse {
    let topics = request.topic_data.iter().map(|topic| {
        let partitions = topic.partition_data.iter().map(|p| {
            PartitionProduceResponse::default()
                .with_index(p.index)
                .with_error_code(TOPIC)
                .with_base_offset(-1)
        });
        TopicProduceResponse::default()
            .with_name(topic.name.clone())
            .with_partition_responses(partitions.collect())
    });
    ProduceResponse::default().with_responses(topics.collect())
}

/// InitProducerId without the producer role.
pub fn init_producer_id() -> InitProducerIdResponse {
    InitProducerIdResponse::default()
        .with_error_code(CLUSTER)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
}

/// Fetch: every partition TOPIC_AUTHORIZATION_FAILED.
pub fn fetch(request: &FetchRequest) -> FetchResponse {
    let topics = request.topics.iter().map(|topic| {
        let partitions = topic.partitions.iter().map(|p| {
            PartitionData::default()
                .with_partition_index(p.partition)
                .with_error_code(TOPIC)
                .with_high_watermark(-1)
        });
        FetchableTopicResponse::default()
            .with_topic(topic.topic.clone())
            .with_topic_id(topic.topic_id)
            .with_partitions(partitions.collect())
    });
    FetchResponse::default().with_responses(topics.collect())
}

/// ListOffsets: every partition TOPIC_AUTHORIZATION_FAILED.
pub fn list_offsets(request: &ListOffsetsRequest) -> ListOffsetsResponse {
    let topics = request.topics.iter().map(|topic| {
        let partitions = topic.partitions.iter().map(|p| {
            ListOffsetsPartitionResponse::default()
                .with_partition_index(p.partition_index)
                .with_error_code(TOPIC)
                .with_timestamp(-1)
                .with_offset(-1)
        });
        ListOffsetsTopicResponse::default()
            .with_name(topic.name.clone())
            .with_partitions(partitions.collect())
    });
    ListOffsetsResponse::default().with_topics(topics.collect())
}

/// OffsetCommit: every partition GROUP_AUTHORIZATION_FAILED, or
/// TOPIC_AUTHORIZATION_FAILED when the group itself was allowed.
pub fn offset_commit(request: &OffsetCommitRequest, group_ok: bool) -> OffsetCommitResponse {
    let code = if group_ok { TOPIC } else { GROUP };
    let topics = request.topics.iter().map(|topic| {
        let partitions = topic.partitions.iter().map(|p| {
            OffsetCommitResponsePartition::default()
                .with_partition_index(p.partition_index)
                .with_error_code(code)
        });
        OffsetCommitResponseTopic::default()
            .with_name(topic.name.clone())
            .with_partitions(partitions.collect())
    });
    OffsetCommitResponse::default().with_topics(topics.collect())
}

/// Why an OffsetFetch is refused, if it is: a group outside the scope, a named topic
/// outside it, or every topic of a group asked for by a token limited to some topics.
pub fn offset_fetch_refusal(request: &OffsetFetchRequest, scope: &Scope) -> Option<i16> {
    let topics_ok = |names: Option<Vec<&str>>| match names {
        None => scope.allows_every_topic(),
        Some(names) => names.iter().all(|n| scope.allows_topic(n)),
    };
    if request.groups.is_empty() {
        if !scope.allows_group(request.group_id.as_str()) {
            return Some(GROUP);
        }
        let names = request
            .topics
            .as_ref()
            .map(|ts| ts.iter().map(|t| t.name.as_str()).collect());
        return (!topics_ok(names)).then_some(TOPIC);
    }
    for group in &request.groups {
        if !scope.allows_group(group.group_id.as_str()) {
            return Some(GROUP);
        }
        let names = group
            .topics
            .as_ref()
            .map(|ts| ts.iter().map(|t| t.name.as_str()).collect());
        if !topics_ok(names) {
            return Some(TOPIC);
        }
    }
    None
}

/// OffsetFetch: the error on each named partition (version 1 has no other place for
/// it), on the request (versions 2 to 7) and on each group (version 8). The codec
/// refuses to encode a field a version lacks, so each goes only where it exists.
pub fn offset_fetch(request: &OffsetFetchRequest, code: i16, version: i16) -> OffsetFetchResponse {
    if version >= 8 {
        let groups = request.groups.iter().map(|g| {
            OffsetFetchResponseGroup::default()
                .with_group_id(g.group_id.clone())
                .with_error_code(code)
        });
        return OffsetFetchResponse::default().with_groups(groups.collect());
    }
    let topics = request.topics.iter().flatten().map(|topic| {
        let partitions = topic.partition_indexes.iter().map(|p| {
            OffsetFetchResponsePartition::default()
                .with_partition_index(*p)
                .with_committed_offset(-1)
                .with_error_code(code)
        });
        OffsetFetchResponseTopic::default()
            .with_name(topic.name.clone())
            .with_partitions(partitions.collect())
    });
    let answer = OffsetFetchResponse::default().with_topics(topics.collect());
    match version {
        1 => answer,
        _ => answer.with_error_code(code),
    }
}

/// FindCoordinator of a group outside the scope: GROUP_AUTHORIZATION_FAILED (on the
/// request before version 4, on each key from version 4); `None` when allowed.
pub fn find_coordinator(
    request: &FindCoordinatorRequest,
    scope: &Scope,
    version: i16,
) -> Option<FindCoordinatorResponse> {
    // Key type 0 is a consumer group; transaction coordinators are answered by the
    // handler (transactions are not served).
    if request.key_type != 0 {
        return None;
    }
    let keys: Vec<&StrBytes> = match request.coordinator_keys.is_empty() {
        true => vec![&request.key],
        false => request.coordinator_keys.iter().collect(),
    };
    if keys.iter().all(|k| scope.allows_group(k.as_str())) {
        return None;
    }
    // Version 4 answers per key; earlier versions on the request.
    if version >= 4 {
        let coordinators = request.coordinator_keys.iter().map(|key| {
            Coordinator::default()
                .with_key(key.clone())
                .with_node_id(BrokerId(-1))
                .with_port(-1)
                .with_error_code(GROUP)
        });
        return Some(FindCoordinatorResponse::default().with_coordinators(coordinators.collect()));
    }
    Some(
        FindCoordinatorResponse::default()
            .with_error_code(GROUP)
            .with_node_id(BrokerId(-1))
            .with_port(-1),
    )
}

/// ListGroups by a token limited to some groups.
pub fn list_groups() -> ListGroupsResponse {
    ListGroupsResponse::default().with_error_code(CLUSTER)
}

/// CreateTopics: every topic TOPIC_AUTHORIZATION_FAILED.
pub fn create_topics(request: &CreateTopicsRequest) -> CreateTopicsResponse {
    let topics = request.topics.iter().map(|t| {
        CreatableTopicResult::default()
            .with_name(t.name.clone())
            .with_error_code(TOPIC)
    });
    CreateTopicsResponse::default().with_topics(topics.collect())
}

/// Whether every topic a DeleteTopics names is in `scope` (a deletion by id names
/// none, so only an unlimited scope allows it).
pub fn delete_topics_allowed(request: &DeleteTopicsRequest, scope: &Scope) -> bool {
    let by_name = request.topic_names.iter().map(|n| Some(n.as_str()));
    let by_state = request
        .topics
        .iter()
        .map(|t| t.name.as_ref().map(|n| n.as_str()));
    by_name.chain(by_state).all(|name| match name {
        Some(name) => scope.allows_topic(name),
        None => scope.allows_every_topic(),
    })
}

/// DeleteTopics: every topic TOPIC_AUTHORIZATION_FAILED.
pub fn delete_topics(request: &DeleteTopicsRequest) -> DeleteTopicsResponse {
    let by_name = request.topic_names.iter().cloned().map(Some);
    let by_state = request.topics.iter().map(|t| t.name.clone());
    let results = by_name.chain(by_state).map(|name| {
        DeletableTopicResult::default()
            .with_name(name)
            .with_error_code(TOPIC)
    });
    DeleteTopicsResponse::default().with_responses(results.collect())
}

/// CreatePartitions: every topic TOPIC_AUTHORIZATION_FAILED.
pub fn create_partitions(request: &CreatePartitionsRequest) -> CreatePartitionsResponse {
    let results = request.topics.iter().map(|t| {
        CreatePartitionsTopicResult::default()
            .with_name(t.name.clone())
            .with_error_code(TOPIC)
    });
    CreatePartitionsResponse::default().with_results(results.collect())
}

/// Whether `scope` may name every topic among config resources (type, name); other
/// resources (the broker's) carry no name to scope.
pub fn config_resources_allowed<'a>(
    mut resources: impl Iterator<Item = (i8, &'a str)>,
    scope: &Scope,
) -> bool {
    resources.all(|(kind, name)| kind != TOPIC_RESOURCE || scope.allows_topic(name))
}

/// Kafka's resource type of a topic.
const TOPIC_RESOURCE: i8 = 2;

/// The authorization error of a config resource of type `kind`.
fn resource_code(kind: i8) -> i16 {
    match kind {
        TOPIC_RESOURCE => TOPIC,
        _ => CLUSTER,
    }
}

/// DescribeConfigs: every resource refused.
pub fn describe_configs(request: &DescribeConfigsRequest) -> DescribeConfigsResponse {
    let results = request.resources.iter().map(|r| {
        describe_configs_response::DescribeConfigsResult::default()
            .with_resource_type(r.resource_type)
            .with_resource_name(r.resource_name.clone())
            .with_error_code(resource_code(r.resource_type))
    });
    DescribeConfigsResponse::default().with_results(results.collect())
}

/// IncrementalAlterConfigs: every resource refused.
pub fn alter_configs(request: &IncrementalAlterConfigsRequest) -> IncrementalAlterConfigsResponse {
    let responses = request.resources.iter().map(|r| {
        incremental_alter_configs_response::AlterConfigsResourceResponse::default()
            .with_resource_type(r.resource_type)
            .with_resource_name(r.resource_name.clone())
            .with_error_code(resource_code(r.resource_type))
    });
    IncrementalAlterConfigsResponse::default().with_responses(responses.collect())
}

/// JoinGroup to a group outside the scope.
pub fn join_group() -> JoinGroupResponse {
    JoinGroupResponse::default()
        .with_error_code(GROUP)
        .with_generation_id(-1)
}

/// SyncGroup of a group outside the scope.
pub fn sync_group() -> SyncGroupResponse {
    SyncGroupResponse::default().with_error_code(GROUP)
}

/// Heartbeat to a group outside the scope.
pub fn heartbeat() -> HeartbeatResponse {
    HeartbeatResponse::default().with_error_code(GROUP)
}

/// LeaveGroup of a group outside the scope.
pub fn leave_group() -> LeaveGroupResponse {
    LeaveGroupResponse::default().with_error_code(GROUP)
}

/// DescribeGroups: every group GROUP_AUTHORIZATION_FAILED.
pub fn describe_groups(request: &DescribeGroupsRequest) -> DescribeGroupsResponse {
    let groups = request.groups.iter().map(|g| {
        DescribedGroup::default()
            .with_group_id(g.clone())
            .with_error_code(GROUP)
    });
    DescribeGroupsResponse::default().with_groups(groups.collect())
}

/// DeleteGroups: every group GROUP_AUTHORIZATION_FAILED.
pub fn delete_groups(request: &DeleteGroupsRequest) -> DeleteGroupsResponse {
    let results = request.groups_names.iter().map(|g| {
        DeletableGroupResult::default()
            .with_group_id(g.clone())
            .with_error_code(GROUP)
    });
    DeleteGroupsResponse::default().with_results(results.collect())
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use kafka_protocol::protocol::Encodable;

    use super::*;
    use crate::kafka::versions;

    /// Encodes `answer` at every version the listener serves for `key` (or, for an
    /// API it does not serve yet, every version the codec knows).
    fn encodes_everywhere(key: ApiKey, answer: ResponseKind) {
        let range = versions::range_of(key).map_or_else(
            || (key.valid_versions().min, key.valid_versions().max),
            |s| (s.min, s.max),
        );
        let served = versions::range_of(key).is_some();
        for version in range.0..=range.1 {
            if served && !versions::serves(key, version) {
                continue;
            }
            let mut out = BytesMut::new();
            answer
                .encode(&mut out, version)
                .unwrap_or_else(|e| panic!("{key:?} v{version}: {e}"));
        }
    }

    #[test]
    fn every_refusal_encodes_at_every_version() {
        let scope = Scope::nothing();
        let group = || GroupId(StrBytes::from_static_str("g"));
        let fetch_v1 = OffsetFetchRequest::default().with_group_id(group());
        let fetch_v8 = OffsetFetchRequest::default().with_groups(vec![
            offset_fetch_request::OffsetFetchRequestGroup::default().with_group_id(group()),
        ]);
        for version in 1..=8 {
            let request = if version >= 8 { &fetch_v8 } else { &fetch_v1 };
            let mut out = BytesMut::new();
            offset_fetch(request, GROUP, version)
                .encode(&mut out, version)
                .unwrap_or_else(|e| panic!("OffsetFetch v{version}: {e}"));
        }
        let by_key = FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("g"));
        let by_keys = by_key
            .clone()
            .with_coordinator_keys(vec![StrBytes::from_static_str("g")]);
        for version in 0..=4 {
            let request = if version >= 4 { &by_keys } else { &by_key };
            let answer = find_coordinator(request, &scope, version).expect("refused");
            let mut out = BytesMut::new();
            answer
                .encode(&mut out, version)
                .unwrap_or_else(|e| panic!("FindCoordinator v{version}: {e}"));
        }
        use ResponseKind as Rs;
        let cases = [
            (
                ApiKey::Produce,
                Rs::Produce(produce(&ProduceRequest::default())),
            ),
            (
                ApiKey::InitProducerId,
                Rs::InitProducerId(init_producer_id()),
            ),
            (ApiKey::Fetch, Rs::Fetch(fetch(&FetchRequest::default()))),
            (
                ApiKey::ListOffsets,
                Rs::ListOffsets(list_offsets(&ListOffsetsRequest::default())),
            ),
            (
                ApiKey::OffsetCommit,
                Rs::OffsetCommit(offset_commit(&OffsetCommitRequest::default(), false)),
            ),
            (ApiKey::ListGroups, Rs::ListGroups(list_groups())),
            (
                ApiKey::CreateTopics,
                Rs::CreateTopics(create_topics(&CreateTopicsRequest::default())),
            ),
            (
                ApiKey::DeleteTopics,
                Rs::DeleteTopics(delete_topics(
                    &DeleteTopicsRequest::default()
                        .with_topic_names(vec![TopicName(StrBytes::from_static_str("t"))]),
                )),
            ),
            (
                ApiKey::CreatePartitions,
                Rs::CreatePartitions(create_partitions(&CreatePartitionsRequest::default())),
            ),
            (
                ApiKey::DescribeConfigs,
                Rs::DescribeConfigs(describe_configs(&DescribeConfigsRequest::default())),
            ),
            (
                ApiKey::IncrementalAlterConfigs,
                Rs::IncrementalAlterConfigs(alter_configs(
                    &IncrementalAlterConfigsRequest::default(),
                )),
            ),
            (ApiKey::JoinGroup, Rs::JoinGroup(join_group())),
            (ApiKey::SyncGroup, Rs::SyncGroup(sync_group())),
            (ApiKey::Heartbeat, Rs::Heartbeat(heartbeat())),
            (ApiKey::LeaveGroup, Rs::LeaveGroup(leave_group())),
            (
                ApiKey::DescribeGroups,
                Rs::DescribeGroups(describe_groups(
                    &DescribeGroupsRequest::default().with_groups(vec![group()]),
                )),
            ),
            (
                ApiKey::DeleteGroups,
                Rs::DeleteGroups(delete_groups(
                    &DeleteGroupsRequest::default().with_groups_names(vec![group()]),
                )),
            ),
        ];
        for (key, answer) in cases {
            encodes_everywhere(key, answer);
        }
    }
}
