//! The one place where broker errors become Kafka error codes. Kafka clients branch on
//! the code (retry, refresh metadata, reset the offset, stop); the broker's message is
//! logged for server-side faults and otherwise only returned where Kafka has a message
//! field.

use kafka_protocol::ResponseError;

use crate::broker::BrokerError;
use crate::broker::group_store::GroupStoreError;
use crate::broker::membership::MembershipError;
use crate::broker::membership::classic::ClassicError;
use crate::storage::producer_state::SequenceError;
use crate::storage::{AppendError, ReadError};

/// The Kafka error code for `err`.
pub fn code_of(err: &BrokerError) -> i16 {
    let error = error_of(err);
    if matches!(
        error,
        ResponseError::UnknownServerError | ResponseError::KafkaStorageError
    ) {
        tracing::error!(error = %err, "kafka request failed");
    }
    error.code()
}

/// The Kafka error code of a refused classic group request.
pub fn classic_code(err: &ClassicError) -> i16 {
    match err {
        // A JoinGroup waiting for its share when the server stops: find the
        // coordinator again, as clients do after a coordinator moved.
        ClassicError::Broker(BrokerError::ShuttingDown) => {
            ResponseError::CoordinatorNotAvailable.code()
        }
        ClassicError::Broker(err) => code_of(err),
        ClassicError::UnknownMember { .. } => ResponseError::UnknownMemberId.code(),
        ClassicError::IllegalGeneration { .. } => ResponseError::IllegalGeneration.code(),
        ClassicError::RebalanceInProgress { .. } => ResponseError::RebalanceInProgress.code(),
    }
}

fn error_of(err: &BrokerError) -> ResponseError {
    use ResponseError as K;
    if err.exhausted().is_some() {
        return K::KafkaStorageError;
    }
    match err {
        BrokerError::TopicNotFound { .. } | BrokerError::PartitionNotFound { .. } => {
            K::UnknownTopicOrPartition
        }
        BrokerError::InvalidTopicName { .. } => K::InvalidTopicException,
        BrokerError::InvalidConfig { .. } => K::InvalidConfig,
        BrokerError::InvalidPartitionCount { .. } => K::InvalidPartitions,
        BrokerError::InvalidRequest(_) => K::InvalidRequest,
        BrokerError::TimestampOutOfRange { .. } => K::InvalidTimestamp,
        BrokerError::TopicExists { .. } => K::TopicAlreadyExists,
        // Retryable: clients refresh metadata and try again.
        BrokerError::Membership(source) => membership_error(source),
        BrokerError::PartitionUnavailable { .. } | BrokerError::Replication(_) => {
            K::LeaderNotAvailable
        }
        BrokerError::PartitionClosed { .. } | BrokerError::ShuttingDown => K::NotLeaderOrFollower,
        BrokerError::ProducerFenced { .. } => K::InvalidProducerEpoch,
        BrokerError::UnknownProducer { .. } => K::UnknownProducerId,
        BrokerError::InvalidGroupName { .. } => K::InvalidGroupId,
        BrokerError::GroupNotFound { .. } => K::GroupIdNotFound,
        BrokerError::CommitOutOfRange { .. } => K::OffsetOutOfRange,
        BrokerError::Groups(GroupStoreError::TooManyGroups { .. }) => K::PolicyViolation,
        BrokerError::Groups(GroupStoreError::Append(source)) => append_error(source),
        BrokerError::Groups(GroupStoreError::Read(source)) => read_error(source),
        BrokerError::Append { source, .. } => append_error(source),
        BrokerError::Read { source, .. } => read_error(source),
        BrokerError::NotCompacted { .. }
        | BrokerError::Maintenance { .. }
        | BrokerError::NodeChange(_) => K::InvalidRequest,
        BrokerError::Exhausted { .. } | BrokerError::Io { .. } | BrokerError::Open { .. } => {
            K::KafkaStorageError
        }
        BrokerError::TooManyProducerNames { .. }
        | BrokerError::Groups(_)
        | BrokerError::BadMetadata { .. }
        | BrokerError::Internal(_) => K::UnknownServerError,
    }
}

fn membership_error(err: &MembershipError) -> ResponseError {
    use ResponseError as K;
    match err {
        MembershipError::NoTopics { .. } => K::InvalidRequest,
        MembershipError::SessionTimeout { .. } => K::InvalidSessionTimeout,
        MembershipError::TooManyMembers { .. } => K::GroupMaxSizeReached,
        MembershipError::TopicsDiffer { .. } | MembershipError::StrategyDiffers { .. } => {
            K::InconsistentGroupProtocol
        }
        MembershipError::UnknownMember { .. } => K::UnknownMemberId,
        MembershipError::StaleGeneration { .. } | MembershipError::NotOwner { .. } => {
            K::IllegalGeneration
        }
        MembershipError::HasMembers { .. } => K::NonEmptyGroup,
    }
}

fn append_error(err: &AppendError) -> ResponseError {
    use ResponseError as K;
    match err {
        AppendError::BatchTooLarge { .. } => K::MessageTooLarge,
        AppendError::EmptyBatch | AppendError::OffsetMismatch { .. } => K::InvalidRequest,
        AppendError::InvalidRecord { .. } => K::InvalidRecord,
        AppendError::Closed { .. } => K::NotLeaderOrFollower,
        AppendError::Sequence { source, .. } => match source {
            SequenceError::OutOfOrder { .. } => K::OutOfOrderSequenceNumber,
            SequenceError::Fenced { .. } => K::InvalidProducerEpoch,
            SequenceError::TooManyProducers { .. } => K::PolicyViolation,
        },
        AppendError::OffsetsExhausted { .. }
        | AppendError::NoSpace { .. }
        | AppendError::Exhausted { .. }
        | AppendError::Poisoned { .. }
        | AppendError::Io { .. } => K::KafkaStorageError,
    }
}

fn read_error(err: &ReadError) -> ResponseError {
    match err {
        ReadError::OutOfRange { .. } => ResponseError::OffsetOutOfRange,
        ReadError::Corrupt { .. } => ResponseError::CorruptMessage,
        ReadError::Exhausted { .. } | ReadError::Io { .. } => ResponseError::KafkaStorageError,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_topics_and_partitions_are_unknown_topic_or_partition() {
        let missing = BrokerError::TopicNotFound { topic: "t".into() };
        assert_eq!(code_of(&missing), 3);
    }

    #[test]
    fn classic_group_refusals_have_their_codes() {
        let unknown = ClassicError::UnknownMember {
            group: "g".into(),
            member: "m".into(),
        };
        assert_eq!(classic_code(&unknown), 25);
        let rebalance = ClassicError::RebalanceInProgress {
            group: "g".into(),
            generation: 3,
        };
        assert_eq!(classic_code(&rebalance), 27);
        assert_eq!(classic_code(&BrokerError::ShuttingDown.into()), 15);
    }

    #[test]
    fn a_read_past_the_end_is_offset_out_of_range() {
        let err = BrokerError::Read {
            topic: "t".into(),
            partition: 0,
            source: Box::new(ReadError::OutOfRange {
                offset: 9,
                log_start: 0,
                high_watermark: 3,
            }),
        };
        assert_eq!(code_of(&err), 1);
    }
}
