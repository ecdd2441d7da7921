//! The one place where errors become gRPC status codes (see the status table in the
//! architecture guide). Clients branch on the code; the message is for people and names
//! the topic, partition and, where it helps, the valid range or the actual next offset.

use tonic::{Code, Status};

use super::convert::InvalidField;
use crate::broker::BrokerError;
use crate::broker::group_store::GroupStoreError;
use crate::broker::membership::MembershipError;
use crate::cluster::node_change::NodeChangeError;
use crate::storage::fsutil::is_no_space;
use crate::storage::producer_state::SequenceError;
use crate::storage::{AppendError, Exhausted, MaintenanceError, OpenError, ReadError};

/// Trailer carrying the partition's actual next offset on an expected-offset mismatch,
/// so a client can retry without parsing the message.
pub const NEXT_OFFSET_METADATA: &str = "eventlog-next-offset";

/// Trailer carrying the sequence an idempotent producer's next batch must start at, on
/// OUT_OF_RANGE for an out-of-order sequence.
pub const EXPECTED_SEQUENCE_METADATA: &str = "eventlog-expected-sequence";

/// Trailer carrying the newest epoch of a producer, on FAILED_PRECONDITION for a fenced
/// (older) epoch.
pub const PRODUCER_EPOCH_METADATA: &str = "eventlog-producer-epoch";

/// Trailer carrying a consumer group's current generation when a member or a commit
/// was fenced (FAILED_PRECONDITION), so the client knows to rejoin.
pub const GROUP_GENERATION_METADATA: &str = "eventlog-group-generation";

/// Trailer carrying the first offset past a damaged batch on DATA_LOSS, so a reader can
/// step over the damage (fetch or subscribe again from it) without parsing the message.
pub const NEXT_READABLE_METADATA: &str = "eventlog-next-readable-offset";

impl From<BrokerError> for Status {
    fn from(err: BrokerError) -> Status {
        let code = code_for(&err);
        let message = match err.exhausted() {
            Some(what) => format!("{err}: {}", exhausted_hint(what)),
            None => err.to_string(),
        };
        let mut status = Status::new(code, message);
        if let BrokerError::Append { source, .. } = &err
            && let AppendError::OffsetMismatch { actual, .. } = source.as_ref()
            && let Ok(value) = actual.to_string().parse()
        {
            status.metadata_mut().insert(NEXT_OFFSET_METADATA, value);
        }
        if let BrokerError::ProducerFenced { current, .. } = &err
            && let Ok(value) = current.to_string().parse()
        {
            status.metadata_mut().insert(PRODUCER_EPOCH_METADATA, value);
        }
        if let BrokerError::Membership(source) = &err
            && let Some(generation) = source.generation()
            && let Ok(value) = generation.to_string().parse()
        {
            status
                .metadata_mut()
                .insert(GROUP_GENERATION_METADATA, value);
        }
        if let BrokerError::Append { source, .. } = &err
            && let AppendError::Sequence { source, .. } = source.as_ref()
        {
            let (key, value) = match source {
                SequenceError::OutOfOrder { expected, .. } => {
                    (EXPECTED_SEQUENCE_METADATA, expected.to_string())
                }
                SequenceError::Fenced { current, .. } => {
                    (PRODUCER_EPOCH_METADATA, current.to_string())
                }
                SequenceError::TooManyProducers { .. } => ("", String::new()),
            };
            if let (false, Ok(value)) = (key.is_empty(), value.parse()) {
                status.metadata_mut().insert(key, value);
            }
        }
        if let BrokerError::Read { source, .. } = &err
            && let ReadError::Corrupt {
                next_readable: Some(next),
                ..
            } = source.as_ref()
            && let Ok(value) = next.to_string().parse()
        {
            status.metadata_mut().insert(NEXT_READABLE_METADATA, value);
        }
        if code == Code::Internal || code == Code::DataLoss {
            tracing::error!(error = %err, "request failed");
        }
        status
    }
}

impl From<InvalidField> for Status {
    fn from(err: InvalidField) -> Status {
        Status::invalid_argument(err.to_string())
    }
}

/// What an operator can do when files or maps ran out.
pub fn exhausted_hint(what: Exhausted) -> &'static str {
    match what {
        Exhausted::Files { .. } | Exhausted::SystemFiles => {
            "raise the file limit or lower --max-open-segments"
        }
        Exhausted::Memory => "raise vm.max_map_count or lower --max-open-segments",
    }
}

fn code_for(err: &BrokerError) -> Code {
    if err.exhausted().is_some() {
        // Not damage and not a bug: the request may work once files are free again.
        return Code::ResourceExhausted;
    }
    match err {
        BrokerError::InvalidTopicName { .. }
        | BrokerError::InvalidConfig { .. }
        | BrokerError::InvalidPartitionCount { .. }
        | BrokerError::InvalidRequest(_)
        | BrokerError::TimestampOutOfRange { .. } => Code::InvalidArgument,
        BrokerError::TopicNotFound { .. } | BrokerError::PartitionNotFound { .. } => Code::NotFound,
        BrokerError::InvalidGroupName { .. } => Code::InvalidArgument,
        BrokerError::ProducerFenced { .. } | BrokerError::UnknownProducer { .. } => {
            Code::FailedPrecondition
        }
        BrokerError::TooManyProducerNames { .. } => Code::ResourceExhausted,
        BrokerError::GroupNotFound { .. } => Code::NotFound,
        BrokerError::CommitOutOfRange { .. } => Code::OutOfRange,
        BrokerError::Groups(source) => group_store_code(source),
        BrokerError::Membership(source) => membership_code(source),
        BrokerError::NodeChange(source) => node_change_code(source),
        BrokerError::TopicExists { .. } => Code::AlreadyExists,
        // Retryable: after a shutdown another server may answer; after a deletion the
        // retry gets NOT_FOUND.
        BrokerError::PartitionClosed { .. }
        | BrokerError::PartitionUnavailable { .. }
        | BrokerError::Replication(_)
        | BrokerError::ShuttingDown => Code::Unavailable,
        BrokerError::Append { source, .. } => append_code(source),
        BrokerError::Read { source, .. } => read_code(source),
        BrokerError::NotCompacted { .. } => Code::FailedPrecondition,
        BrokerError::Maintenance { source, .. } => maintenance_code(source),
        BrokerError::Exhausted { .. } => Code::ResourceExhausted,
        // A full disk while creating a topic or opening a partition: retry once space returns.
        BrokerError::Io { source, .. } if is_no_space(source) => Code::ResourceExhausted,
        BrokerError::Open { source, .. } if matches!(source.as_ref(), OpenError::Io { source, .. } if is_no_space(source)) => {
            Code::ResourceExhausted
        }
        BrokerError::Open { .. }
        | BrokerError::Io { .. }
        | BrokerError::BadMetadata { .. }
        | BrokerError::Internal(_) => Code::Internal,
    }
}

fn node_change_code(err: &NodeChangeError) -> Code {
    match err {
        NodeChangeError::Invalid(_) => Code::InvalidArgument,
        NodeChangeError::AlreadyExists(_) => Code::AlreadyExists,
        NodeChangeError::NotFound(_) => Code::NotFound,
        NodeChangeError::Refused(_) => Code::FailedPrecondition,
        NodeChangeError::Unavailable(_) | NodeChangeError::NotLeader => Code::Unavailable,
    }
}

fn membership_code(err: &MembershipError) -> Code {
    match err {
        MembershipError::NoTopics { .. } | MembershipError::SessionTimeout { .. } => {
            Code::InvalidArgument
        }
        MembershipError::TooManyMembers { .. } => Code::ResourceExhausted,
        MembershipError::TopicsDiffer { .. }
        | MembershipError::StrategyDiffers { .. }
        | MembershipError::UnknownMember { .. }
        | MembershipError::StaleGeneration { .. }
        | MembershipError::NotOwner { .. }
        | MembershipError::HasMembers { .. } => Code::FailedPrecondition,
    }
}

fn maintenance_code(err: &MaintenanceError) -> Code {
    match err {
        MaintenanceError::Read(source) => read_code(source),
        MaintenanceError::Append(source) => append_code(source),
        // Refused as things stand (segments changed meanwhile, a damaged batch to be
        // verified first); the message says which.
        MaintenanceError::Invalid { .. } => Code::FailedPrecondition,
        MaintenanceError::Cancelled { .. } => Code::Aborted,
        MaintenanceError::Exhausted { .. } => Code::ResourceExhausted,
        MaintenanceError::Io { .. } | MaintenanceError::Poisoned { .. } => Code::Internal,
    }
}

fn append_code(err: &AppendError) -> Code {
    match err {
        AppendError::OffsetMismatch { .. } | AppendError::OffsetsExhausted { .. } => {
            Code::FailedPrecondition
        }
        AppendError::BatchTooLarge { .. }
        | AppendError::NoSpace { .. }
        | AppendError::Exhausted { .. } => Code::ResourceExhausted,
        AppendError::EmptyBatch | AppendError::InvalidRecord { .. } => Code::InvalidArgument,
        AppendError::Closed { .. } => Code::Unavailable,
        // A gap in an idempotent producer's sequences: the request lies past the range
        // the partition accepts (the expected sequence is in a trailer). A fenced epoch
        // is a state the producer cannot retry out of: it must stop.
        AppendError::Sequence { source, .. } => match source {
            SequenceError::OutOfOrder { .. } => Code::OutOfRange,
            SequenceError::Fenced { .. } => Code::FailedPrecondition,
            SequenceError::TooManyProducers { .. } => Code::ResourceExhausted,
        },
        // The partition refuses writes until an operator restarts the server.
        AppendError::Poisoned { .. } | AppendError::Io { .. } => Code::Internal,
    }
}

fn group_store_code(err: &GroupStoreError) -> Code {
    match err {
        GroupStoreError::Append(source) => append_code(source),
        GroupStoreError::Read(source) => read_code(source),
        GroupStoreError::TooManyGroups { .. } => Code::ResourceExhausted,
        GroupStoreError::Open(_)
        | GroupStoreError::Interrupted
        | GroupStoreError::Compact(_)
        | GroupStoreError::Malformed { .. } => Code::Internal,
    }
}

fn read_code(err: &ReadError) -> Code {
    match err {
        ReadError::OutOfRange { .. } => Code::OutOfRange,
        ReadError::Corrupt { .. } => Code::DataLoss,
        ReadError::Exhausted { .. } => Code::ResourceExhausted,
        ReadError::Io { .. } => Code::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatch_carries_the_actual_next_offset() {
        let err = BrokerError::Append {
            topic: "t".into(),
            partition: 0,
            source: Box::new(AppendError::OffsetMismatch {
                expected: 3,
                actual: 7,
            }),
        };
        let status = Status::from(err);
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert!(status.message().contains('7'));
        assert_eq!(
            status
                .metadata()
                .get(NEXT_OFFSET_METADATA)
                .and_then(|v| v.to_str().ok()),
            Some("7")
        );
    }

    #[test]
    fn a_full_disk_is_resource_exhausted_wherever_it_hits() {
        let full = || std::io::Error::from_raw_os_error(28);
        let quota = || std::io::Error::from_raw_os_error(122);
        let errors = [
            BrokerError::Io {
                path: "topics/t~creating/topic.json.tmp".into(),
                source: full(),
            },
            BrokerError::Open {
                what: "partition t/0".into(),
                source: Box::new(OpenError::Io {
                    log: crate::storage::LogIdent::new("t", 0),
                    path: "topics/t/0/00000000000000000000.log".into(),
                    source: quota(),
                }),
            },
            BrokerError::Groups(GroupStoreError::Append(AppendError::NoSpace {
                log: crate::storage::LogIdent::new("__consumer_offsets", 0),
                path: "groups/00000000000000000000.log".into(),
            })),
        ];
        for err in errors {
            let status = Status::from(err);
            assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        }
        // Other I/O errors stay INTERNAL.
        let other = BrokerError::Io {
            path: "x".into(),
            source: std::io::Error::from_raw_os_error(5),
        };
        assert_eq!(Status::from(other).code(), Code::Internal);
    }

    #[test]
    fn corruption_is_data_loss_naming_the_place_and_the_next_readable_offset() {
        let err = BrokerError::Read {
            topic: "t".into(),
            partition: 0,
            source: Box::new(ReadError::Corrupt {
                log: crate::storage::LogIdent::new("t", 0),
                segment: "topics/t/0/00000000000000000000.log".into(),
                position: 4096,
                reason: "crc mismatch".into(),
                next_readable: Some(42),
            }),
        };
        let status = Status::from(err);
        assert_eq!(status.code(), Code::DataLoss);
        assert!(
            status
                .message()
                .contains("00000000000000000000.log at position 4096"),
            "{}",
            status.message()
        );
        assert_eq!(
            status
                .metadata()
                .get(NEXT_READABLE_METADATA)
                .and_then(|v| v.to_str().ok()),
            Some("42")
        );
    }

    #[test]
    fn running_out_of_files_is_resource_exhausted_with_a_remedy() {
        let err = BrokerError::Read {
            topic: "t".into(),
            partition: 3,
            source: Box::new(ReadError::io(
                crate::storage::LogIdent::new("t", 3),
                "seg.log".into(),
                std::io::Error::from_raw_os_error(24),
            )),
        };
        let status = Status::from(err);
        assert_eq!(status.code(), Code::ResourceExhausted);
        let message = status.message();
        assert!(message.contains("t/3"), "{message}");
        assert!(message.contains("too many open files"), "{message}");
        assert!(message.contains("--max-open-segments"), "{message}");
    }

    #[test]
    fn out_of_range_names_the_valid_range() {
        let err = BrokerError::Read {
            topic: "t".into(),
            partition: 0,
            source: Box::new(ReadError::OutOfRange {
                offset: 50,
                log_start: 0,
                high_watermark: 10,
            }),
        };
        let status = Status::from(err);
        assert_eq!(status.code(), Code::OutOfRange);
        assert!(status.message().contains("0..=10"), "{}", status.message());
    }
}
