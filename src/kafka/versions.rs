//! The APIs and versions this listener implements; ApiVersions advertises exactly
//! these, and a request for anything else closes the connection (except ApiVersions
//! itself, which answers UNSUPPORTED_VERSION so a newer client can retry lower).
//!
//! Versions stop below those that identify topics by id (Fetch 13, Metadata 13,
//! Produce 13), since topics here have names only.

use kafka_protocol::messages::ApiKey;

/// One implemented API: its key and version range, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Supported {
    /// The API.
    pub key: ApiKey,
    /// Lowest version advertised.
    pub min: i16,
    /// Highest version advertised.
    pub max: i16,
}

/// Lowest Produce version served. Versions 0 to 2 are advertised but refused, as
/// Kafka 4.0 does: librdkafka turns compression off against a broker whose Produce
/// range does not start at 0.
pub const MIN_SERVED_PRODUCE: i16 = 3;

/// Every implemented API.
pub const SUPPORTED: &[Supported] = &[
    api(ApiKey::Produce, 0, 11),
    api(ApiKey::Fetch, 4, 12),
    api(ApiKey::ListOffsets, 1, 7),
    api(ApiKey::Metadata, 0, 12),
    api(ApiKey::OffsetCommit, 2, 8),
    api(ApiKey::OffsetFetch, 1, 8),
    api(ApiKey::FindCoordinator, 0, 4),
    api(ApiKey::ListGroups, 0, 4),
    api(ApiKey::ApiVersions, 0, 4),
    api(ApiKey::CreateTopics, 2, 7),
    api(ApiKey::DeleteTopics, 1, 6),
    api(ApiKey::InitProducerId, 0, 5),
    api(ApiKey::JoinGroup, 0, 9),
    api(ApiKey::SyncGroup, 0, 5),
    api(ApiKey::Heartbeat, 0, 4),
    api(ApiKey::LeaveGroup, 0, 5),
    api(ApiKey::DescribeGroups, 0, 6),
    api(ApiKey::DeleteGroups, 0, 2),
    api(ApiKey::CreatePartitions, 0, 3),
    api(ApiKey::SaslHandshake, 0, 1),
    api(ApiKey::SaslAuthenticate, 0, 2),
    api(ApiKey::DescribeConfigs, 1, 4),
    api(ApiKey::IncrementalAlterConfigs, 0, 1),
];

const fn api(key: ApiKey, min: i16, max: i16) -> Supported {
    Supported { key, min, max }
}

/// The advertised range of `key`, if implemented.
pub fn range_of(key: ApiKey) -> Option<Supported> {
    SUPPORTED.iter().copied().find(|s| s.key == key)
}

/// Whether `version` of `key` is served (advertised, and not one of the refused old
/// Produce versions).
pub fn serves(key: ApiKey, version: i16) -> bool {
    let floor = if key == ApiKey::Produce {
        MIN_SERVED_PRODUCE
    } else {
        i16::MIN
    };
    range_of(key).is_some_and(|s| version >= s.min.max(floor) && version <= s.max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_version_is_one_the_codec_can_decode() {
        for s in SUPPORTED {
            let codec = s.key.valid_versions();
            let low = if s.key == ApiKey::Produce {
                MIN_SERVED_PRODUCE
            } else {
                s.min
            };
            assert!(
                low >= codec.min && s.max <= codec.max,
                "{:?} {low}..={} outside {codec:?}",
                s.key,
                s.max
            );
        }
    }

    #[test]
    fn old_produce_versions_are_advertised_but_not_served() {
        assert_eq!(range_of(ApiKey::Produce).map(|s| s.min), Some(0));
        assert!(!serves(ApiKey::Produce, 2));
        assert!(serves(ApiKey::Produce, 3));
        assert!(!serves(ApiKey::JoinGroup, 10));
        assert!(!serves(ApiKey::DeleteRecords, 0));
    }
}
