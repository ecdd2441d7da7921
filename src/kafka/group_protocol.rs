//! What the group APIs share: the consumer protocol's embedded messages (a member's
//! subscription in JoinGroup, its assignment in SyncGroup and DescribeGroups, both
//! prefixed with their own version), and where group calls are served in a cluster.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable};

use super::api::text;
use super::context::Context;
use crate::broker::membership::TopicPartition;

/// The only protocol type served: Kafka consumers.
pub const CONSUMER: &str = "consumer";

/// Assignors whose clients give up every partition before they rejoin (Kafka's eager
/// protocol), so what they list as owned is ignored; any other assignor is taken at
/// its word (a cooperative client keeps reading what it lists through the rebalance).
const EAGER_ASSIGNORS: &[&str] = &["range", "roundrobin", "sticky"];

/// Highest version of the embedded consumer messages the codec knows; a newer one is
/// read as this one, as Kafka does (later versions only add fields at the end).
const MAX_EMBEDDED_VERSION: i16 = 3;

/// A member's subscription: its topics, and the partitions it still owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Subscribed topics.
    pub topics: Vec<String>,
    /// Partitions it keeps reading through the rebalance.
    pub owned: Vec<TopicPartition>,
}

/// Decodes the metadata a member sent with `assignor`; `None` when it is not a
/// consumer subscription.
pub fn subscription(assignor: &str, metadata: &[u8]) -> Option<Subscription> {
    let mut buf = Bytes::copy_from_slice(metadata);
    if buf.remaining() < 2 {
        return None;
    }
    let version = buf.get_i16();
    if version < 0 {
        return None;
    }
    let decoded =
        ConsumerProtocolSubscription::decode(&mut buf, version.min(MAX_EMBEDDED_VERSION)).ok()?;
    let owned = if EAGER_ASSIGNORS.contains(&assignor) {
        Vec::new()
    } else {
        decoded
            .owned_partitions
            .iter()
            .flat_map(|t| {
                t.partitions.iter().filter_map(|&p| {
                    u32::try_from(p)
                        .ok()
                        .map(|p| TopicPartition::new(t.topic.as_str(), p))
                })
            })
            .collect()
    };
    Some(Subscription {
        topics: decoded
            .topics
            .iter()
            .map(|t| t.as_str().to_string())
            .collect(),
        owned,
    })
}

/// A subscription to `topics` (version 0), for members that sent none (gRPC members).
pub fn encode_subscription(topics: &[String]) -> Bytes {
    let message = ConsumerProtocolSubscription::default()
        .with_topics(topics.iter().map(|t| text(t)).collect());
    embedded(&message)
}

/// `partitions` as a consumer assignment (version 0).
pub fn encode_assignment(partitions: &BTreeSet<TopicPartition>) -> Bytes {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        let partition = i32::try_from(tp.partition).unwrap_or(i32::MAX);
        by_topic.entry(&tp.topic).or_default().push(partition);
    }
    let topics = by_topic
        .into_iter()
        .map(|(topic, partitions)| {
            AssignedTopic::default()
                .with_topic(TopicName(text(topic)))
                .with_partitions(partitions)
        })
        .collect();
    embedded(&ConsumerProtocolAssignment::default().with_assigned_partitions(topics))
}

/// An embedded message at version 0, prefixed with that version.
fn embedded(message: &impl Encodable) -> Bytes {
    let mut out = BytesMut::new();
    out.put_i16(0);
    // Version 0 of these messages has no field that can fail to encode.
    if message.encode(&mut out, 0).is_err() {
        out.truncate(2);
    }
    out.freeze()
}

/// `NOT_COORDINATOR` when this node is in a cluster and does not coordinate its
/// groups (the metadata group's leader does; the Kafka listener does not forward).
pub fn not_coordinator(ctx: &Context) -> Option<i16> {
    let cluster = ctx.broker.cluster()?;
    (cluster.metadata_leader() != Some(cluster.node_id()))
        .then(|| ResponseError::NotCoordinator.code())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription_bytes(version: i16, message: &ConsumerProtocolSubscription) -> Vec<u8> {
        let mut out = BytesMut::new();
        out.put_i16(version);
        message.encode(&mut out, version).expect("encode");
        out.to_vec()
    }

    #[test]
    fn a_cooperative_subscription_keeps_its_owned_partitions_and_an_eager_one_does_not() {
        use kafka_protocol::messages::consumer_protocol_subscription::TopicPartition as Owned;
        let message = ConsumerProtocolSubscription::default()
            .with_topics(vec![text("t")])
            .with_owned_partitions(vec![
                Owned::default()
                    .with_topic(TopicName(text("t")))
                    .with_partitions(vec![1, -4, 3]),
            ]);
        let bytes = subscription_bytes(1, &message);
        let cooperative = subscription("cooperative-sticky", &bytes).expect("decodes");
        assert_eq!(cooperative.topics, vec!["t".to_string()]);
        assert_eq!(
            cooperative.owned,
            vec![TopicPartition::new("t", 1), TopicPartition::new("t", 3)]
        );
        assert!(
            subscription("range", &bytes)
                .expect("decodes")
                .owned
                .is_empty()
        );
    }

    #[test]
    fn garbage_and_negative_versions_are_not_subscriptions() {
        assert_eq!(subscription("range", &[]), None);
        assert_eq!(subscription("range", &[0xff, 0xff, 1, 2]), None);
        assert_eq!(subscription("range", &[0, 0, 0, 9, b'a']), None);
    }

    proptest::proptest! {
        /// Client-sent metadata is untrusted: any bytes decode or are refused, never
        /// a panic, and what decodes is no bigger than the bytes.
        #[test]
        fn any_metadata_decodes_or_is_refused(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            version in 0i16..6,
        ) {
            let mut framed = version.to_be_bytes().to_vec();
            framed.extend_from_slice(&bytes);
            // Each topic takes at least its two-byte length: a decoded subscription
            // never holds more topics or partitions than the bytes could carry.
            for (assignor, input) in [("cooperative-sticky", &framed), ("range", &bytes)] {
                if let Some(decoded) = subscription(assignor, input) {
                    proptest::prop_assert!(decoded.topics.len() * 2 <= input.len());
                    proptest::prop_assert!(decoded.owned.len() * 4 <= input.len());
                }
            }
        }
    }

    #[test]
    fn a_huge_declared_topic_count_is_refused() {
        let mut framed = vec![0, 0];
        framed.extend_from_slice(&i32::MAX.to_be_bytes());
        assert_eq!(subscription("range", &framed), None);
    }

    #[test]
    fn an_assignment_round_trips_through_the_codec() {
        let partitions: BTreeSet<TopicPartition> = [("a", 2), ("a", 0), ("b", 5)]
            .into_iter()
            .map(|(t, p)| TopicPartition::new(t, p))
            .collect();
        let mut bytes = encode_assignment(&partitions);
        assert_eq!(bytes.get_i16(), 0);
        let decoded = ConsumerProtocolAssignment::decode(&mut bytes, 0).expect("decode");
        let topics: Vec<(String, Vec<i32>)> = decoded
            .assigned_partitions
            .iter()
            .map(|t| (t.topic.as_str().to_string(), t.partitions.clone()))
            .collect();
        assert_eq!(
            topics,
            vec![("a".to_string(), vec![0, 2]), ("b".to_string(), vec![5])]
        );
    }
}
