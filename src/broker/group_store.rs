//! Durable consumer-group offsets: an append-only, CRC-checked log (a storage
//! [`Log`] in `<data-dir>/groups/`) of commit records, plus the in-memory table it
//! replays into on open.
//!
//! Each commit request is one batch, so a request's partitions commit together or not
//! at all. A record's key is (group, topic, partition) and its value the committed
//! `next_offset`, the commit time and the metadata string; a tombstone deletes a key
//! (group deletion, topic deletion). The log is compacted (newest record per key) when
//! its sealed part grows past a few times the live table, so both disk use and the
//! replay at startup stay proportional to the number of live keys, not of commits.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::storage::{
    AppendError, CompactionConfig, FsyncPolicy, Log, LogConfig, LogIdent, MaintenanceError,
    OpenError, ReadError, ReadLimits, Record,
};

/// Longest group name accepted, in bytes.
pub const MAX_GROUP_NAME_BYTES: usize = 255;
/// Longest metadata string accepted, in bytes.
pub const MAX_METADATA_BYTES: usize = 4096;

/// The key of one committed position.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKey {
    /// Consumer group.
    pub group: String,
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
}

/// What a group committed for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The next offset the group will read (one past the last processed record).
    pub next_offset: u64,
    /// Free-form metadata given with the commit.
    pub metadata: String,
    /// When the commit was stored, ms since the epoch.
    pub commit_time_ms: i64,
}

/// A group-store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum GroupStoreError {
    /// Opening the offsets log failed.
    #[error("opening consumer-group offsets: {0}")]
    Open(#[from] OpenError),
    /// Appending to the offsets log failed; the commit did not happen.
    #[error("storing consumer-group offsets: {0}")]
    Append(#[from] AppendError),
    /// Replaying the offsets log failed.
    #[error("reading consumer-group offsets: {0}")]
    Read(#[from] ReadError),
    /// Compacting the offsets log failed (the commits are safe).
    #[error("compacting consumer-group offsets: {0}")]
    Compact(#[from] MaintenanceError),
    /// A stored record does not decode (it passed its CRC, so this is a bug or a foreign record).
    #[error("consumer-group offsets record at offset {offset} is malformed")]
    Malformed {
        /// Its offset in the offsets log.
        offset: u64,
    },
}

/// The consumer-group offsets of a broker.
pub struct GroupStore {
    log: Log,
    table: Mutex<BTreeMap<GroupKey, Committed>>,
    /// Records appended since the last compaction (or replayed at open).
    appended: std::sync::atomic::AtomicU64,
}

impl GroupStore {
    /// Opens (creating if needed) the offsets log in `dir` and replays it.
    pub fn open(dir: &Path, fsync: FsyncPolicy) -> Result<GroupStore, GroupStoreError> {
        let config = LogConfig {
            segment_bytes: 16 << 20,
            fsync,
            ..LogConfig::default()
        };
        let log = Log::open(dir, LogIdent::new("__consumer_offsets", 0), config)?;
        let (table, records) = replay(&log)?;
        tracing::info!(keys = table.len(), records, "consumer-group offsets loaded");
        let store = GroupStore {
            log,
            table: Mutex::new(table),
            appended: records.into(),
        };
        // The commits are all loaded; a compaction that fails (a full disk, a damaged
        // batch in the log) must not keep the server from starting. It is retried on a
        // later commit.
        if let Err(error) = store.compact_if_bloated() {
            tracing::warn!(%error, "compacting consumer-group offsets failed; retried on a later commit");
        }
        Ok(store)
    }

    /// Stores `entries` for `group`/`topic` in one durable batch (all or nothing).
    pub fn commit(
        &self,
        group: &str,
        topic: &str,
        entries: &[(u32, u64, String)],
        now_ms: i64,
    ) -> Result<(), GroupStoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut table = self.table.lock().expect("group table lock");
        let records: Vec<Record> = entries
            .iter()
            .map(|(partition, next_offset, metadata)| {
                let key = GroupKey {
                    group: group.into(),
                    topic: topic.into(),
                    partition: *partition,
                };
                let value = Committed {
                    next_offset: *next_offset,
                    metadata: metadata.clone(),
                    commit_time_ms: now_ms,
                };
                Record {
                    key: Some(encode_key(&key)),
                    value: Some(encode_value(&value)),
                    headers: vec![],
                    timestamp_ms: now_ms,
                }
            })
            .collect();
        // The table lock is held across the append so the table's order of commits is the log's.
        self.log.append(&records)?;
        self.appended
            .fetch_add(records.len() as u64, std::sync::atomic::Ordering::Relaxed);
        for (partition, next_offset, metadata) in entries {
            let key = GroupKey {
                group: group.into(),
                topic: topic.into(),
                partition: *partition,
            };
            table.insert(
                key,
                Committed {
                    next_offset: *next_offset,
                    metadata: metadata.clone(),
                    commit_time_ms: now_ms,
                },
            );
        }
        drop(table);
        // The commit is durable already; a failed compaction must not report it failed.
        if let Err(error) = self.compact_if_bloated() {
            tracing::warn!(%error, "compacting consumer-group offsets failed; retried on a later commit");
        }
        Ok(())
    }

    /// The commits of `group` for `topic`, by partition.
    pub fn committed(&self, group: &str, topic: &str) -> BTreeMap<u32, Committed> {
        let table = self.table.lock().expect("group table lock");
        let key = |partition| GroupKey {
            group: group.into(),
            topic: topic.into(),
            partition,
        };
        // Keys sort by group, topic, partition: one range holds exactly these commits.
        table
            .range(key(0)..=key(u32::MAX))
            .map(|(k, v)| (k.partition, v.clone()))
            .collect()
    }

    /// Every commit of `group`, by key.
    pub fn group(&self, group: &str) -> Vec<(GroupKey, Committed)> {
        let table = self.table.lock().expect("group table lock");
        table
            .iter()
            .filter(|(k, _)| k.group == group)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Names of every group with at least one commit.
    pub fn groups(&self) -> Vec<String> {
        let table = self.table.lock().expect("group table lock");
        let mut names: Vec<String> = table.keys().map(|k| k.group.clone()).collect();
        names.dedup();
        names
    }

    /// Removes every commit of `group`; returns how many keys were removed.
    pub fn delete_group(&self, group: &str) -> Result<usize, GroupStoreError> {
        self.delete_where(|k| k.group == group)
    }

    /// Removes every group's commits for `topic` (the topic was deleted).
    pub fn delete_topic(&self, topic: &str) -> Result<usize, GroupStoreError> {
        self.delete_where(|k| k.topic == topic)
    }

    fn delete_where(&self, matches: impl Fn(&GroupKey) -> bool) -> Result<usize, GroupStoreError> {
        let mut table = self.table.lock().expect("group table lock");
        let keys: Vec<GroupKey> = table.keys().filter(|k| matches(k)).cloned().collect();
        if keys.is_empty() {
            return Ok(0);
        }
        let now = now_ms();
        let records: Vec<Record> = keys
            .iter()
            .map(|k| Record {
                key: Some(encode_key(k)),
                value: None,
                headers: vec![],
                timestamp_ms: now,
            })
            .collect();
        for chunk in records.chunks(10_000) {
            self.log.append(chunk)?;
        }
        self.appended
            .fetch_add(records.len() as u64, std::sync::atomic::Ordering::Relaxed);
        for k in &keys {
            table.remove(k);
        }
        Ok(keys.len())
    }

    /// Housekeeping for the offsets log (age rolls, interval fsync).
    pub fn tick(&self) {
        if let Err(error) = self.log.tick() {
            tracing::warn!(%error, "consumer-group offsets housekeeping failed");
        }
    }

    /// Flushes and closes the offsets log.
    pub fn close(&self) {
        if let Err(error) = self.log.close() {
            tracing::warn!(%error, "closing consumer-group offsets failed");
        }
    }

    /// Compacts when the log holds more than four records per live key (and at least
    /// one sealed segment's worth), keeping replay time and disk use bounded.
    fn compact_if_bloated(&self) -> Result<(), GroupStoreError> {
        let live = self.table.lock().expect("group table lock").len() as u64;
        let appended = self.appended.load(std::sync::atomic::Ordering::Relaxed);
        if appended < 100_000 || appended < live.saturating_mul(4) {
            return Ok(());
        }
        self.appended
            .store(live, std::sync::atomic::Ordering::Relaxed);
        self.log.roll()?;
        // Tombstones are dropped at once: the table, not the log, is the source of truth
        // for readers, and a deleted key has no older value left after this pass.
        let stats = self.log.compact(CompactionConfig {
            delete_retention: Duration::ZERO,
            ..CompactionConfig::default()
        })?;
        let first_live = self.log.read(
            self.log.log_start_offset(),
            ReadLimits {
                max_records: 1,
                max_bytes: 1,
            },
        )?;
        let start = first_live
            .records
            .first()
            .map_or(first_live.next_offset, |r| r.offset);
        self.log.delete_segments_below(start)?;
        tracing::info!(
            records_removed = stats.records_removed,
            "compacted consumer-group offsets"
        );
        Ok(())
    }
}

/// Rebuilds the table from the log; also returns how many records were read.
fn replay(log: &Log) -> Result<(BTreeMap<GroupKey, Committed>, u64), GroupStoreError> {
    let mut table = BTreeMap::new();
    let mut next = log.log_start_offset();
    let mut count = 0;
    loop {
        let limits = ReadLimits {
            max_records: 10_000,
            max_bytes: 8 << 20,
        };
        let got = match log.read(next, limits) {
            Ok(got) => got,
            // A damaged commit batch loses only its own commits: the ones after it are
            // replayed (a later commit of the same key supersedes the lost one anyway).
            // Refusing to start would make every group unusable over one bad batch.
            Err(ReadError::Corrupt {
                segment,
                position,
                reason,
                next_readable: Some(resume),
                ..
            }) if resume > next => {
                tracing::error!(
                    segment = %segment.display(), position, %reason, lost_offsets = ?(next..resume),
                    "corrupt batch in the consumer-group offsets log: skipping its commits; later commits are kept"
                );
                next = resume;
                continue;
            }
            Err(error) => return Err(error.into()),
        };
        if got.records.is_empty() {
            return Ok((table, count));
        }
        count += got.records.len() as u64;
        for record in &got.records {
            let malformed = || GroupStoreError::Malformed {
                offset: record.offset,
            };
            let key = record
                .key
                .as_ref()
                .and_then(|k| decode_key(k.clone()))
                .ok_or_else(malformed)?;
            match &record.value {
                Some(value) => {
                    table.insert(key, decode_value(value.clone()).ok_or_else(malformed)?);
                }
                None => {
                    table.remove(&key);
                }
            }
        }
        next = got.next_offset;
    }
}

/// Current time in ms since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64
}

fn put_str(buf: &mut BytesMut, s: &str) {
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

/// Key layout: version `u8` = 1, group (`u16` length + UTF-8), topic (same), partition `u32`.
fn encode_key(key: &GroupKey) -> Bytes {
    let mut buf = BytesMut::with_capacity(9 + key.group.len() + key.topic.len());
    buf.put_u8(1);
    put_str(&mut buf, &key.group);
    put_str(&mut buf, &key.topic);
    buf.put_u32_le(key.partition);
    buf.freeze()
}

fn decode_key(mut buf: Bytes) -> Option<GroupKey> {
    if buf.remaining() < 1 || buf.get_u8() != 1 {
        return None;
    }
    let group = get_str(&mut buf)?;
    let topic = get_str(&mut buf)?;
    (buf.remaining() == 4).then(|| GroupKey {
        group,
        topic,
        partition: buf.get_u32_le(),
    })
}

/// Value layout: version `u8` = 1, next_offset `u64`, commit time `i64`, metadata (`u16` length + UTF-8).
fn encode_value(value: &Committed) -> Bytes {
    let mut buf = BytesMut::with_capacity(19 + value.metadata.len());
    buf.put_u8(1);
    buf.put_u64_le(value.next_offset);
    buf.put_i64_le(value.commit_time_ms);
    put_str(&mut buf, &value.metadata);
    buf.freeze()
}

fn decode_value(mut buf: Bytes) -> Option<Committed> {
    if buf.remaining() < 17 || buf.get_u8() != 1 {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> GroupStore {
        GroupStore::open(dir, FsyncPolicy::Always).unwrap()
    }

    #[test]
    fn commits_survive_reopen_and_groups_are_independent() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = open(dir.path());
            store
                .commit("g1", "t", &[(0, 5, "a".into()), (1, 7, String::new())], 100)
                .unwrap();
            store
                .commit("g2", "t", &[(0, 2, String::new())], 101)
                .unwrap();
            store.commit("g1", "t", &[(0, 6, "b".into())], 102).unwrap();
            drop(store); // no close: like a crash after the acknowledgements
        }
        let store = open(dir.path());
        let g1 = store.committed("g1", "t");
        assert_eq!(
            g1[&0],
            Committed {
                next_offset: 6,
                metadata: "b".into(),
                commit_time_ms: 102
            }
        );
        assert_eq!(g1[&1].next_offset, 7);
        assert_eq!(store.committed("g2", "t")[&0].next_offset, 2);
        assert_eq!(store.groups(), vec!["g1".to_string(), "g2".to_string()]);
    }

    #[test]
    fn deleting_a_group_or_a_topic_removes_its_commits_durably() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = open(dir.path());
            store
                .commit("g1", "t", &[(0, 5, String::new())], 1)
                .unwrap();
            store
                .commit("g1", "u", &[(0, 5, String::new())], 1)
                .unwrap();
            store
                .commit("g2", "t", &[(0, 5, String::new())], 1)
                .unwrap();
            assert_eq!(store.delete_topic("t").unwrap(), 2);
            assert_eq!(store.delete_group("g1").unwrap(), 1);
        }
        let store = open(dir.path());
        assert!(store.groups().is_empty());
    }

    #[test]
    fn a_torn_last_commit_is_dropped_not_misread() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = open(dir.path());
            store.commit("g", "t", &[(0, 5, String::new())], 1).unwrap();
            store.commit("g", "t", &[(0, 9, String::new())], 2).unwrap();
        }
        // Cut the last batch in half, as a crash during its write would.
        let segment = dir.path().join(format!("{:020}.log", 0));
        let bytes = std::fs::read(&segment).unwrap();
        let end = bytes.iter().rposition(|b| *b != 0).unwrap() + 1;
        std::fs::write(&segment, &bytes[..end - 10]).unwrap();
        let store = open(dir.path());
        assert_eq!(store.committed("g", "t")[&0].next_offset, 5);
    }

    #[test]
    fn a_corrupt_commit_batch_is_skipped_and_later_commits_replay() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = open(dir.path());
            store.commit("g", "t", &[(0, 5, String::new())], 1).unwrap();
            store.commit("g", "t", &[(1, 6, String::new())], 2).unwrap();
            store.commit("g", "t", &[(0, 9, String::new())], 3).unwrap();
        }
        // Flip a bit inside the second batch (the only commit of partition 1).
        let segment = dir.path().join(format!("{:020}.log", 0));
        let mut bytes = std::fs::read(&segment).unwrap();
        let mut batches = Vec::new();
        crate::storage::verify::walk(&segment, &mut |event| {
            if let crate::storage::verify::WalkEvent::Batch { position, .. } = event {
                batches.push(position as usize);
            }
        })
        .unwrap();
        bytes[batches[1] + 40] ^= 0x01;
        std::fs::write(&segment, bytes).unwrap();
        let store = open(dir.path());
        let committed = store.committed("g", "t");
        assert_eq!(committed[&0].next_offset, 9);
        assert!(!committed.contains_key(&1), "the damaged commit is gone");
    }

    #[test]
    fn a_compaction_that_fails_on_damage_does_not_fail_commits_or_the_open() {
        let dir = tempfile::tempdir().unwrap();
        let commit_round = |store: &GroupStore, i: u64| {
            let entries: Vec<_> = (0..100).map(|p| (p, i, String::new())).collect();
            store.commit("g", "t", &entries, i as i64).unwrap();
        };
        {
            // Just under the compaction threshold of 100,000 appended records.
            let store = GroupStore::open(dir.path(), FsyncPolicy::Never).unwrap();
            (0..999).for_each(|i| commit_round(&store, i));
            store.close();
        }
        let segment = dir.path().join(format!("{:020}.log", 0));
        let mut positions = Vec::new();
        crate::storage::verify::walk(&segment, &mut |event| {
            if let crate::storage::verify::WalkEvent::Batch { position, .. } = event {
                positions.push(position as usize);
            }
        })
        .unwrap();
        let mut bytes = std::fs::read(&segment).unwrap();
        bytes[positions[500] + 100] ^= 0x01;
        std::fs::write(&segment, bytes).unwrap();
        {
            let store = GroupStore::open(dir.path(), FsyncPolicy::Never).unwrap();
            // Past the threshold: compaction runs, meets the damage, and fails; the
            // commits do not.
            (999..1003).for_each(|i| commit_round(&store, i));
            // No close: the next open finds the log still over the threshold.
        }
        let store = GroupStore::open(dir.path(), FsyncPolicy::Never).unwrap();
        let committed = store.committed("g", "t");
        assert_eq!(committed.len(), 100);
        assert!(committed.values().all(|c| c.next_offset == 1002));
    }

    #[test]
    fn many_commits_are_compacted_to_the_live_keys() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = GroupStore::open(dir.path(), FsyncPolicy::Never).unwrap();
            for i in 0..1200u64 {
                let entries: Vec<_> = (0..100).map(|p| (p, i, String::new())).collect();
                store.commit("g", "t", &entries, i as i64).unwrap();
            }
            let (_, stored) = replay(&store.log).unwrap();
            assert!(
                stored < 30_000,
                "compaction kept the log small: {stored} of 120000 records"
            );
            store.close();
        }
        let store = open(dir.path());
        let committed = store.committed("g", "t");
        assert_eq!(committed.len(), 100);
        assert!(committed.values().all(|c| c.next_offset == 1199));
    }
}

#[cfg(test)]
#[path = "group_store_power_loss.rs"]
mod power_loss_tests;
