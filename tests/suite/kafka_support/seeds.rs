//! Valid request frames (length prefix, header, message) of every API the Kafka
//! listener serves, each at its lowest served version, its first flexible version, its
//! highest and for some a common middle one, with some content in every list (topics, partitions, a record batch, a
//! consumer subscription), so a mutation lands deep inside a message rather than in
//! an empty one. They seed the fuzz corpus (`fuzz/corpus/kafka_request/`) and the
//! mutation tests.

use std::collections::BTreeSet;

use bytes::{Bytes, BytesMut};
use eventlog::broker::membership::TopicPartition;
use eventlog::kafka::group_protocol::{encode_assignment, encode_subscription};
use eventlog::kafka::versions::{MIN_SERVED_PRODUCE, SUPPORTED};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// The topic every seed names.
pub const TOPIC: &str = "seed-topic";
/// The group every seed names.
pub const GROUP: &str = "seed-group";

/// One valid request frame.
#[derive(Debug, Clone)]
pub struct Seed {
    /// A file name for it: API, version and variant.
    pub name: String,
    /// The API.
    pub key: ApiKey,
    /// The version it is encoded in.
    pub version: i16,
    /// Length prefix, header and message.
    pub frame: Vec<u8>,
}

/// Middle versions clients commonly send, beside each API's lowest, first flexible and
/// highest.
const MIDDLE_VERSIONS: &[(ApiKey, i16)] = &[
    (ApiKey::Fetch, 11),
    (ApiKey::Metadata, 4),
    (ApiKey::ListOffsets, 2),
    (ApiKey::OffsetCommit, 7),
    (ApiKey::JoinGroup, 5),
    (ApiKey::SyncGroup, 3),
    (ApiKey::Heartbeat, 3),
    (ApiKey::LeaveGroup, 1),
];

/// Every seed, in a fixed order.
pub fn all() -> Vec<Seed> {
    let mut seeds = Vec::new();
    for supported in SUPPORTED {
        let mut versions = versions_of(supported.key, supported.min, supported.max);
        versions.extend(
            MIDDLE_VERSIONS
                .iter()
                .filter(|(key, _)| *key == supported.key)
                .map(|(_, version)| *version),
        );
        for version in versions {
            let message = message(supported.key, version);
            seeds.push(seed(supported.key, version, "", &message));
        }
    }
    // Record batches with a producer id and compressed, where the batch decoding forks.
    let idempotent = produce(batch(Some((7, 0, 0)), Compression::None));
    seeds.push(seed(
        ApiKey::Produce,
        9,
        "-idempotent",
        &RequestKind::Produce(idempotent),
    ));
    let gzip = produce(batch(None, Compression::Gzip));
    seeds.push(seed(
        ApiKey::Produce,
        7,
        "-gzip",
        &RequestKind::Produce(gzip),
    ));
    seeds
}

/// The lowest served version, the first flexible one (header version 2) and the
/// highest.
fn versions_of(key: ApiKey, min: i16, max: i16) -> BTreeSet<i16> {
    let min = if key == ApiKey::Produce {
        MIN_SERVED_PRODUCE
    } else {
        min
    };
    let flexible = (min..=max).find(|&v| key.request_header_version(v) >= 2);
    [Some(min), flexible, Some(max)]
        .into_iter()
        .flatten()
        .collect()
}

fn seed(key: ApiKey, version: i16, variant: &str, message: &RequestKind) -> Seed {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(1)
        .with_client_id(Some(text("seed-client")));
    let mut body = BytesMut::new();
    header
        .encode(&mut body, key.request_header_version(version))
        .expect("header");
    message.encode(&mut body, version).expect("message");
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    Seed {
        name: format!("{key:?}-v{version}{variant}"),
        key,
        version,
        frame,
    }
}

fn text(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_string())
}

fn topic() -> TopicName {
    TopicName(text(TOPIC))
}

fn group() -> GroupId {
    GroupId(text(GROUP))
}

/// A request of `key` with content, using only fields `version` has.
fn message(key: ApiKey, version: i16) -> RequestKind {
    match key {
        ApiKey::Produce => RequestKind::Produce(produce(batch(None, Compression::None))),
        ApiKey::Fetch => RequestKind::Fetch(fetch(version)),
        ApiKey::ListOffsets => RequestKind::ListOffsets(list_offsets(version)),
        ApiKey::Metadata => RequestKind::Metadata(metadata(version)),
        ApiKey::OffsetCommit => RequestKind::OffsetCommit(offset_commit(version)),
        ApiKey::OffsetFetch => RequestKind::OffsetFetch(offset_fetch(version)),
        ApiKey::FindCoordinator => RequestKind::FindCoordinator(find_coordinator(version)),
        ApiKey::ListGroups => RequestKind::ListGroups(ListGroupsRequest::default()),
        ApiKey::ApiVersions => RequestKind::ApiVersions(api_versions(version)),
        ApiKey::CreateTopics => RequestKind::CreateTopics(create_topics()),
        ApiKey::DeleteTopics => RequestKind::DeleteTopics(delete_topics(version)),
        ApiKey::InitProducerId => RequestKind::InitProducerId(
            InitProducerIdRequest::default().with_transaction_timeout_ms(60_000),
        ),
        ApiKey::JoinGroup => RequestKind::JoinGroup(join_group(version)),
        ApiKey::SyncGroup => RequestKind::SyncGroup(sync_group()),
        ApiKey::Heartbeat => RequestKind::Heartbeat(
            HeartbeatRequest::default()
                .with_group_id(group())
                .with_generation_id(1)
                .with_member_id(text("member-1")),
        ),
        ApiKey::LeaveGroup => RequestKind::LeaveGroup(leave_group(version)),
        ApiKey::DescribeGroups => {
            RequestKind::DescribeGroups(DescribeGroupsRequest::default().with_groups(vec![group()]))
        }
        ApiKey::DeleteGroups => RequestKind::DeleteGroups(
            DeleteGroupsRequest::default().with_groups_names(vec![group()]),
        ),
        ApiKey::CreatePartitions => RequestKind::CreatePartitions(create_partitions()),
        ApiKey::SaslHandshake => RequestKind::SaslHandshake(
            SaslHandshakeRequest::default().with_mechanism(text("PLAIN")),
        ),
        ApiKey::SaslAuthenticate => RequestKind::SaslAuthenticate(
            SaslAuthenticateRequest::default()
                .with_auth_bytes(Bytes::from_static(b"\0user\0secret-token")),
        ),
        ApiKey::DescribeConfigs => RequestKind::DescribeConfigs(describe_configs()),
        ApiKey::IncrementalAlterConfigs => RequestKind::IncrementalAlterConfigs(alter_configs()),
        other => panic!("no seed for {other:?}: add one for the newly served API"),
    }
}

/// A version-2 batch of two records; `producer`: id, epoch and first sequence.
fn batch(producer: Option<(i64, i16, i32)>, compression: Compression) -> Bytes {
    let (producer_id, producer_epoch, first) = producer.unwrap_or((-1, -1, -1));
    let records: Vec<Record> = (0..2)
        .map(|i| {
            let mut headers = IndexMap::new();
            headers.insert(text("h"), Some(Bytes::from_static(b"v")));
            Record {
                transactional: false,
                control: false,
                partition_leader_epoch: 0,
                producer_id,
                producer_epoch,
                timestamp_type: TimestampType::Creation,
                offset: i,
                // One batch: the encoder starts another wherever offset minus sequence
                // changes, and a batch without a producer has base sequence -1.
                sequence: if first < 0 {
                    i as i32 - 1
                } else {
                    first + i as i32
                },
                timestamp: 1_700_000_000_000 + i,
                key: Some(Bytes::from(format!("key-{i}"))),
                value: Some(Bytes::from(format!("value-{i}"))),
                headers,
                delete_horizon: false,
            }
        })
        .collect();
    let mut out = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut out, &records, &options).expect("batch");
    out.freeze()
}

fn produce(records: Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(topic())
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(records)),
                ]),
        ])
}

fn fetch(version: i16) -> FetchRequest {
    let mut partition = FetchPartition::default()
        .with_partition(0)
        .with_fetch_offset(0)
        .with_partition_max_bytes(1 << 20);
    if version >= 5 {
        partition = partition.with_log_start_offset(-1);
    }
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(500)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(topic())
                .with_partitions(vec![partition]),
        ])
}

fn list_offsets(version: i16) -> ListOffsetsRequest {
    let mut request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(topic())
                .with_partitions(vec![
                    ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(-1),
                ]),
        ]);
    if version >= 2 {
        request = request.with_isolation_level(1);
    }
    request
}

fn metadata(version: i16) -> MetadataRequest {
    let mut request = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(topic())),
    ]));
    if version >= 4 {
        request = request.with_allow_auto_topic_creation(true);
    }
    request
}

fn offset_commit(version: i16) -> OffsetCommitRequest {
    let mut partition = OffsetCommitRequestPartition::default()
        .with_partition_index(0)
        .with_committed_offset(2)
        .with_committed_metadata(Some(text("")));
    if version >= 6 {
        partition = partition.with_committed_leader_epoch(-1);
    }
    OffsetCommitRequest::default()
        .with_group_id(group())
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(text(""))
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(topic())
                .with_partitions(vec![partition]),
        ])
}

fn offset_fetch(version: i16) -> OffsetFetchRequest {
    if version >= 8 {
        return OffsetFetchRequest::default().with_groups(vec![
            OffsetFetchRequestGroup::default()
                .with_group_id(group())
                .with_topics(Some(vec![
                    OffsetFetchRequestTopics::default()
                        .with_name(topic())
                        .with_partition_indexes(vec![0]),
                ])),
        ]);
    }
    OffsetFetchRequest::default()
        .with_group_id(group())
        .with_topics(Some(vec![
            OffsetFetchRequestTopic::default()
                .with_name(topic())
                .with_partition_indexes(vec![0]),
        ]))
}

fn find_coordinator(version: i16) -> FindCoordinatorRequest {
    if version >= 4 {
        FindCoordinatorRequest::default().with_coordinator_keys(vec![text(GROUP)])
    } else {
        FindCoordinatorRequest::default().with_key(text(GROUP))
    }
}

fn api_versions(version: i16) -> ApiVersionsRequest {
    if version >= 3 {
        ApiVersionsRequest::default()
            .with_client_software_name(text("seed-client"))
            .with_client_software_version(text("1.0"))
    } else {
        ApiVersionsRequest::default()
    }
}

fn create_topics() -> CreateTopicsRequest {
    CreateTopicsRequest::default()
        .with_timeout_ms(5_000)
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(topic())
                .with_num_partitions(2)
                .with_replication_factor(1)
                .with_configs(vec![
                    CreatableTopicConfig::default()
                        .with_name(text("retention.ms"))
                        .with_value(Some(text("3600000"))),
                ]),
        ])
}

fn delete_topics(version: i16) -> DeleteTopicsRequest {
    let request = DeleteTopicsRequest::default().with_timeout_ms(5_000);
    if version >= 6 {
        request.with_topics(vec![DeleteTopicState::default().with_name(Some(topic()))])
    } else {
        request.with_topic_names(vec![topic()])
    }
}

fn join_group(version: i16) -> JoinGroupRequest {
    let mut request = JoinGroupRequest::default()
        .with_group_id(group())
        .with_session_timeout_ms(10_000)
        .with_member_id(text(""))
        .with_protocol_type(text("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(text("range"))
                .with_metadata(encode_subscription(&[TOPIC.to_string()])),
        ]);
    if version >= 1 {
        request = request.with_rebalance_timeout_ms(30_000);
    }
    request
}

fn sync_group() -> SyncGroupRequest {
    SyncGroupRequest::default()
        .with_group_id(group())
        .with_generation_id(1)
        .with_member_id(text("member-1"))
        .with_assignments(vec![
            SyncGroupRequestAssignment::default()
                .with_member_id(text("member-1"))
                .with_assignment(encode_assignment(&BTreeSet::from([TopicPartition::new(
                    TOPIC, 0,
                )]))),
        ])
}

fn leave_group(version: i16) -> LeaveGroupRequest {
    let request = LeaveGroupRequest::default().with_group_id(group());
    if version >= 3 {
        request.with_members(vec![
            MemberIdentity::default().with_member_id(text("member-1")),
        ])
    } else {
        request.with_member_id(text("member-1"))
    }
}

fn create_partitions() -> CreatePartitionsRequest {
    CreatePartitionsRequest::default()
        .with_timeout_ms(5_000)
        .with_topics(vec![
            CreatePartitionsTopic::default()
                .with_name(topic())
                .with_count(3),
        ])
}

fn describe_configs() -> DescribeConfigsRequest {
    DescribeConfigsRequest::default().with_resources(vec![
        DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(text(TOPIC))
            .with_configuration_keys(Some(vec![text("retention.ms")])),
    ])
}

fn alter_configs() -> IncrementalAlterConfigsRequest {
    IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(text(TOPIC))
            .with_configs(vec![
                AlterableConfig::default()
                    .with_name(text("retention.ms"))
                    .with_config_operation(0)
                    .with_value(Some(text("7200000"))),
            ]),
    ])
}
