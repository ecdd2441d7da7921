//! Records of the consumer-group offsets log (layout in `storage-format.md`, section
//! "Consumer-group offsets log"). A record's key starts with its kind:
//! - kind 1, a commit key (group, topic, partition): with a value, the committed
//!   position; without one (a tombstone), the removal of that key;
//! - kind 2 / kind 3, a deletion marker for a whole group / topic: with a value, every
//!   key of that group / topic present at this point of the log is gone, in one record,
//!   so a deletion of any size is atomic; without a value, the marker is settled (every
//!   key it removed has its own tombstone before it, so compaction may drop them all).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::{Committed, GroupKey};
use crate::storage::Record;

const COMMIT_KEY: u8 = 1;
const GROUP_MARKER: u8 = 2;
const TOPIC_MARKER: u8 = 3;
const VALUE_VERSION: u8 = 1;

/// What a deletion removes: every commit of a group, or every group's commits of a topic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// One consumer group.
    Group(String),
    /// One topic, in every group.
    Topic(String),
}

impl Scope {
    /// Whether `key` belongs to this scope.
    pub fn contains(&self, key: &GroupKey) -> bool {
        match self {
            Scope::Group(group) => key.group == *group,
            Scope::Topic(topic) => key.topic == *topic,
        }
    }
}

/// One decoded record of the offsets log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// A commit of one key.
    Commit(GroupKey, Committed),
    /// A tombstone of one key.
    Removed(GroupKey),
    /// A deletion marker: the scope's keys are gone from here on.
    Deleted(Scope),
    /// A settled marker: the scope's removed keys all have tombstones before this.
    Settled(Scope),
}

/// The record storing `value` for `key`.
pub fn commit_record(key: &GroupKey, value: &Committed) -> Record {
    let mut buf = BytesMut::with_capacity(19 + value.metadata.len());
    buf.put_u8(VALUE_VERSION);
    buf.put_u64_le(value.next_offset);
    buf.put_i64_le(value.commit_time_ms);
    put_str(&mut buf, &value.metadata);
    record(encode_key(key), Some(buf.freeze()), value.commit_time_ms)
}

/// The tombstone of `key`.
pub fn removal_record(key: &GroupKey, now_ms: i64) -> Record {
    record(encode_key(key), None, now_ms)
}

/// The marker deleting every key of `scope` (its value: version, deletion time).
pub fn marker_record(scope: &Scope, now_ms: i64) -> Record {
    let mut buf = BytesMut::with_capacity(9);
    buf.put_u8(VALUE_VERSION);
    buf.put_i64_le(now_ms);
    record(encode_scope(scope), Some(buf.freeze()), now_ms)
}

/// The tombstone settling `scope`'s markers.
pub fn settled_record(scope: &Scope, now_ms: i64) -> Record {
    record(encode_scope(scope), None, now_ms)
}

fn record(key: Bytes, value: Option<Bytes>, timestamp_ms: i64) -> Record {
    Record {
        key: Some(key),
        value,
        headers: vec![],
        timestamp_ms,
    }
}

/// Decodes a record's key and value; `None` when they are not a record of this log.
pub fn decode(key: Option<&Bytes>, value: Option<&Bytes>) -> Option<Stored> {
    let mut key = key?.clone();
    if key.remaining() < 1 {
        return None;
    }
    let kind = key.get_u8();
    if kind != COMMIT_KEY {
        let name = get_str(&mut key).filter(|_| key.is_empty())?;
        let scope = match kind {
            GROUP_MARKER => Scope::Group(name),
            TOPIC_MARKER => Scope::Topic(name),
            _ => return None,
        };
        return Some(match value {
            Some(v) => {
                // Checked so that a foreign value is reported rather than trusted.
                (v.len() == 9 && v[0] == VALUE_VERSION).then_some(())?;
                Stored::Deleted(scope)
            }
            None => Stored::Settled(scope),
        });
    }
    let group = get_str(&mut key)?;
    let topic = get_str(&mut key)?;
    if key.remaining() != 4 {
        return None;
    }
    let partition = key.get_u32_le();
    let key = GroupKey {
        group,
        topic,
        partition,
    };
    Some(match value {
        Some(v) => Stored::Commit(key, decode_value(v.clone())?),
        None => Stored::Removed(key),
    })
}

/// Key layout: kind `u8` = 1, group (`u16` length + UTF-8), topic (same), partition `u32`.
fn encode_key(key: &GroupKey) -> Bytes {
    let mut buf = BytesMut::with_capacity(9 + key.group.len() + key.topic.len());
    buf.put_u8(COMMIT_KEY);
    put_str(&mut buf, &key.group);
    put_str(&mut buf, &key.topic);
    buf.put_u32_le(key.partition);
    buf.freeze()
}

/// Marker key layout: kind `u8` (2 group, 3 topic), name (`u16` length + UTF-8).
fn encode_scope(scope: &Scope) -> Bytes {
    let (kind, name) = match scope {
        Scope::Group(name) => (GROUP_MARKER, name),
        Scope::Topic(name) => (TOPIC_MARKER, name),
    };
    let mut buf = BytesMut::with_capacity(3 + name.len());
    buf.put_u8(kind);
    put_str(&mut buf, name);
    buf.freeze()
}

/// Value layout: version `u8` = 1, next_offset `u64`, commit time `i64`, metadata (`u16` length + UTF-8).
fn decode_value(mut buf: Bytes) -> Option<Committed> {
    if buf.remaining() < 17 || buf.get_u8() != VALUE_VERSION {
        return None;
    }
    let next_offset = buf.get_u64_le();
    let commit_time_ms = buf.get_i64_le();
    let metadata = get_str(&mut buf)?;
    buf.is_empty().then_some(Committed {
        next_offset,
        metadata,
        commit_time_ms,
    })
}

fn put_str(buf: &mut BytesMut, s: &str) {
    // Names are at most 255 bytes and metadata 4096 (checked before a commit).
    buf.put_u16_le(s.len() as u16);
    buf.put_slice(s.as_bytes());
}

fn get_str(buf: &mut Bytes) -> Option<String> {
    if buf.remaining() < 2 {
        return None;
    }
    let len = usize::from(buf.get_u16_le());
    if buf.remaining() < len {
        return None;
    }
    String::from_utf8(buf.split_to(len).to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> GroupKey {
        GroupKey {
            group: "g".into(),
            topic: "t".into(),
            partition: 2,
        }
    }

    /// The bytes of `storage-format.md`'s worked example: a change here is a format change.
    #[test]
    fn golden_bytes() {
        let value = Committed {
            next_offset: 5,
            metadata: "m".into(),
            commit_time_ms: 7,
        };
        let commit = commit_record(&key(), &value);
        let key_bytes = [1, 1, 0, b'g', 1, 0, b't', 2, 0, 0, 0];
        assert_eq!(commit.key.as_deref(), Some(&key_bytes[..]));
        let value_bytes = [
            1, 5, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 1, 0, b'm',
        ];
        assert_eq!(commit.value.as_deref(), Some(&value_bytes[..]));
        assert_eq!(removal_record(&key(), 7).value, None);
        let marker = marker_record(&Scope::Group("g".into()), 7);
        assert_eq!(marker.key.as_deref(), Some(&[2, 1, 0, b'g'][..]));
        assert_eq!(
            marker.value.as_deref(),
            Some(&[1, 7, 0, 0, 0, 0, 0, 0, 0][..])
        );
        let topic = settled_record(&Scope::Topic("t".into()), 7);
        assert_eq!(topic.key.as_deref(), Some(&[3, 1, 0, b't'][..]));
        assert_eq!(topic.value, None);
    }

    #[test]
    fn every_record_kind_decodes_back() {
        let value = Committed {
            next_offset: 9,
            metadata: String::new(),
            commit_time_ms: -1,
        };
        let cases = [
            (
                commit_record(&key(), &value),
                Stored::Commit(key(), value.clone()),
            ),
            (removal_record(&key(), 1), Stored::Removed(key())),
            (
                marker_record(&Scope::Topic("t".into()), 1),
                Stored::Deleted(Scope::Topic("t".into())),
            ),
            (
                settled_record(&Scope::Group("g".into()), 1),
                Stored::Settled(Scope::Group("g".into())),
            ),
        ];
        for (record, stored) in cases {
            assert_eq!(
                decode(record.key.as_ref(), record.value.as_ref()),
                Some(stored)
            );
        }
        let foreign = Bytes::from_static(&[9, 1, 0, b'g']);
        assert_eq!(decode(Some(&foreign), None), None);
        assert_eq!(decode(None, None), None);
    }
}
