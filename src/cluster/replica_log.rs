//! The shared core of one replica: its partition log, the index map over it, and its
//! state file. The Raft log store and the state machine of a group both hold it.
//!
//! Every method blocks on the disk; the async Raft adapters call them on the
//! blocking thread pool.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use openraft::{AnyError, EntryPayload, StorageIOError};

use super::acks::{Landed, LocalAck};
use super::entry_batch;
use super::index_map::{IndexMap, Slot};
use super::state_file::{Anchor, PendingReset, StateFile};
use super::types::{Applied, Entry, LogId, Proposal, StorageError, StoredMembership};
use crate::storage::Log;

/// Most bytes of entries one read hands to replication: a follower far behind is
/// caught up in requests of this size rather than one huge one.
pub const MAX_READ_BYTES: usize = 8 << 20;

/// A replica's log, map and state.
pub struct ReplicaLog {
    log: Arc<Log>,
    /// Whether Raft's commit index is stored (see [`super::state_file::GroupState`]).
    keeps_committed: bool,
    map: Mutex<IndexMap>,
    state: StateFile,
}

impl ReplicaLog {
    /// Opens the replica over `log` (whose directory holds the state file), numbering
    /// its batches from the stored anchor.
    pub fn open(log: Arc<Log>, keeps_committed: bool) -> Result<ReplicaLog, StorageError> {
        let state = StateFile::load(log.dir()).map_err(|e| read_err(&e))?;
        if let Some(pending) = state.get().reset {
            tracing::info!(log = %log.ident(), next_offset = pending.next_offset, "finishing a reset of the replica's log to a snapshot");
            finish_reset(&log, &state, &pending)?;
        }
        let map = rebuild(&log, state.get().anchor)
            .map_err(|e| StorageIOError::read_logs(AnyError::error(e)))?;
        Ok(ReplicaLog {
            log,
            keeps_committed,
            map: Mutex::new(map),
            state,
        })
    }

    /// The partition log.
    pub fn log(&self) -> &Arc<Log> {
        &self.log
    }

    /// Whether Raft's commit index is stored.
    pub fn keeps_committed(&self) -> bool {
        self.keeps_committed
    }

    /// The state file.
    pub fn state(&self) -> &StateFile {
        &self.state
    }

    /// The index map (held briefly: appends wait for it).
    pub fn map(&self) -> MutexGuard<'_, IndexMap> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry `index`'s batch, if the log holds it.
    pub fn slot(&self, index: u64) -> Option<Slot> {
        self.map().get(index)
    }

    /// Appends `entries` (consecutive, starting at the map's next index) and makes
    /// them durable under the log's fsync policy.
    pub fn append(&self, entries: &[Entry]) -> Result<(), StorageError> {
        let Some(last) = entries.last() else {
            return Ok(());
        };
        let mut next_offset = 0;
        let mut durable = Vec::new();
        for entry in entries {
            let index = entry.log_id.index;
            let ack = match &entry.payload {
                EntryPayload::Normal(Proposal(_, ack)) => Some(ack),
                _ => None,
            };
            // A conditional proposal is decided here, where its offset is certain: the
            // log store is the only writer of the log, and entries come in order.
            let refused = ack
                .and_then(LocalAck::expected)
                .filter(|expected| *expected != self.log.next_offset());
            let encoded = match refused {
                Some(_) => entry_batch::placeholder(entry.log_id.leader_id.term),
                None => entry_batch::to_batch(entry),
            };
            let mut bytes = encoded
                .map_err(|e| StorageIOError::write_log_entry(entry.log_id, AnyError::new(&e)))?;
            let mut map = self.map();
            if map.is_empty() && self.state.get().anchor.map(|a| a.index) != Some(index) {
                // The first entry of an empty log fixes the numbering; stored first, so a
                // crash before the batch lands still numbers it right.
                let anchor = Anchor {
                    index,
                    base_offset: self.log.next_offset(),
                };
                self.state
                    .update(|s| s.anchor = Some(anchor))
                    .map_err(|e| write_err(&e))?;
            }
            let info = self
                .log
                .write_batch(&mut bytes)
                .map_err(|e| StorageIOError::write_log_entry(entry.log_id, AnyError::new(&e)))?;
            let slot = Slot {
                base_offset: info.base_offset,
                next_offset: info.last_offset + 1,
                term: entry.log_id.leader_id.term,
            };
            map.push(index, slot)
                .map_err(|e| StorageIOError::write_log_entry(entry.log_id, AnyError::error(e)))?;
            next_offset = slot.next_offset;
            if let Some(ack) = ack.filter(|ack| ack.is_wanted()) {
                let landed = match refused {
                    Some(expected) => Landed::Refused {
                        expected,
                        next_offset: slot.next_offset,
                    },
                    None => Landed::At(Applied {
                        base_offset: info.base_offset,
                        last_offset: info.last_offset,
                        max_timestamp_ms: info.max_timestamp_ms,
                    }),
                };
                durable.push((ack, landed));
            }
        }
        self.log
            .sync_through(next_offset)
            .map_err(|e| StorageIOError::write_log_entry(last.log_id, AnyError::new(&e)))?;
        // Only now, with the batches durable here: a produce with acks=leader may be
        // answered.
        for (ack, landed) in durable {
            ack.notify(landed);
        }
        Ok(())
    }

    /// Reads the entries in `start..end` that the log holds, up to about `max_bytes`
    /// (at least one); `all` asks for every one, whatever the size.
    pub fn read(&self, start: u64, end: u64, max_bytes: usize) -> Result<Vec<Entry>, StorageError> {
        let (first, count) = {
            let map = self.map();
            let start = start.max(map.first_index());
            let end = end.min(map.next_index());
            match map.get(start) {
                Some(slot) if start < end => (Some((start, slot)), (end - start) as usize),
                _ => (None, 0),
            }
        };
        let Some((start, slot)) = first else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(count.min(1024));
        let mut offset = slot.base_offset;
        let mut read_bytes = 0usize;
        while out.len() < count {
            let want = count - out.len();
            let budget = max_bytes.saturating_sub(read_bytes);
            if budget == 0 && !out.is_empty() {
                break;
            }
            let batches = self
                .log
                .read_batches(offset, budget.max(1), want)
                .map_err(|e| {
                    StorageIOError::read_log_at_index(start + out.len() as u64, AnyError::new(&e))
                })?;
            if batches.is_empty() {
                break;
            }
            for raw in batches {
                let index = start + out.len() as u64;
                let expected = self.slot(index);
                if expected.map(|s| s.base_offset) != Some(raw.header.base_offset) {
                    return Err(StorageIOError::read_log_at_index(
                        index,
                        AnyError::error(format!(
                            "the batch at offset {} is not entry {index} ({expected:?})",
                            raw.header.base_offset
                        )),
                    )
                    .into());
                }
                offset = raw.header.next_offset();
                read_bytes += raw.bytes.len();
                out.push(
                    entry_batch::from_batch(&raw, index)
                        .map_err(|e| StorageIOError::read_log_at_index(index, AnyError::new(&e)))?,
                );
            }
        }
        Ok(out)
    }

    /// Removes the entries from `log_id` on, from the map and the log.
    pub fn truncate(&self, log_id: LogId) -> Result<(), StorageError> {
        let mut map = self.map();
        let Some(offset) = map.truncate_from(log_id.index) else {
            return Ok(());
        };
        if map.is_empty() {
            let anchor = Anchor {
                index: log_id.index,
                base_offset: offset,
            };
            self.state
                .update(|s| s.anchor = Some(anchor))
                .map_err(|e| write_err(&e))?;
        }
        self.log
            .truncate_to(offset)
            .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)))?;
        Ok(())
    }

    /// Forgets the entries through `log_id` and deletes the whole segments that then
    /// hold only forgotten entries.
    pub fn purge(&self, log_id: LogId) -> Result<(), StorageError> {
        let mut map = self.map();
        map.purge_through(log_id.index);
        let first = map.get(map.first_index());
        let base_offset = first.map_or_else(|| self.log.next_offset(), |s| s.base_offset);
        let anchor = Anchor {
            index: map.first_index(),
            base_offset,
        };
        // Stored before any segment goes, so the numbering never refers to deleted data.
        self.state
            .update(|s| {
                s.anchor = Some(anchor);
                s.purged = Some(log_id);
            })
            .map_err(|e| write_err(&e))?;
        drop(map);
        self.log
            .delete_segments_below(base_offset)
            .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)))?;
        Ok(())
    }
}

impl ReplicaLog {
    /// Starts the log again, empty, after the entry `last` of a snapshot this replica
    /// does not hold the entries of (its leader purged them), at offset `next_offset`:
    /// the records before it are gone from the leader too, and the next entry Raft
    /// sends is `last`'s successor, written at `next_offset`.
    pub fn reset(
        &self,
        last: LogId,
        membership: StoredMembership,
        next_offset: u64,
        producers: Option<String>,
    ) -> Result<(), StorageError> {
        let mut map = self.map();
        let pending = PendingReset {
            last,
            membership,
            next_offset,
            producers,
        };
        self.state
            .update(|s| s.reset = Some(pending.clone()))
            .map_err(|e| write_err(&e))?;
        finish_reset(&self.log, &self.state, &pending)?;
        *map = IndexMap::starting_at(last.index + 1);
        Ok(())
    }

    /// The index of the last entry held whose batch lies wholly below `offset`.
    pub fn last_index_below(&self, offset: u64) -> Option<u64> {
        self.map().last_index_below(offset)
    }
}

/// Empties the log at the reset's offset and stores the state that numbers it from
/// there (everything up to the snapshot counts as purged and applied).
fn finish_reset(log: &Log, state: &StateFile, pending: &PendingReset) -> Result<(), StorageError> {
    let producers = pending.producers.as_deref().and_then(|encoded| {
        BASE64
            .decode(encoded)
            .inspect_err(
                |error| tracing::warn!(%error, "producer state of a reset is not base64; ignored"),
            )
            .ok()
    });
    log.reset_to_with_producers(pending.next_offset, producers.as_deref())
        .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)))?;
    state
        .update(|s| {
            s.anchor = Some(Anchor {
                index: pending.last.index + 1,
                base_offset: pending.next_offset,
            });
            s.purged = Some(pending.last);
            s.applied = Some(pending.last);
            s.membership = pending.membership.clone();
            s.reset = None;
        })
        .map_err(|e| write_err(&e))
}

/// Walks the log's batch headers from the anchor to number them.
fn rebuild(log: &Log, anchor: Option<Anchor>) -> Result<IndexMap, String> {
    let Some(anchor) = anchor else {
        if log.next_offset() > log.log_start_offset() {
            return Err(format!(
                "{} holds records but no replication state: it was not written by a replica",
                log.dir().display()
            ));
        }
        return Ok(IndexMap::starting_at(0));
    };
    let mut map = IndexMap::starting_at(anchor.index);
    if anchor.base_offset >= log.high_watermark() {
        return Ok(map);
    }
    let headers = log
        .batch_headers(anchor.base_offset)
        .map_err(|e| e.to_string())?;
    if let Some(first) = headers.first()
        && first.base_offset != anchor.base_offset
    {
        return Err(format!(
            "{}: the replication anchor is at offset {} but the batch there starts at {}",
            log.dir().display(),
            anchor.base_offset,
            first.base_offset
        ));
    }
    for (i, header) in headers.iter().enumerate() {
        let slot = Slot {
            base_offset: header.base_offset,
            next_offset: header.next_offset(),
            term: u64::try_from(header.leader_epoch).unwrap_or(0),
        };
        map.push(anchor.index + i as u64, slot)?;
    }
    Ok(map)
}

fn read_err(e: &std::io::Error) -> StorageError {
    StorageIOError::read_logs(AnyError::new(e)).into()
}

fn write_err(e: &std::io::Error) -> StorageError {
    StorageIOError::write_logs(AnyError::new(e)).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::index_map::log_id;
    use crate::storage::batch::BatchFormat;
    use crate::storage::{LogConfig, LogIdent};

    fn open_log(dir: &std::path::Path) -> Arc<Log> {
        let config = LogConfig {
            batch_format: BatchFormat::V2,
            ..LogConfig::default()
        };
        Arc::new(Log::open(dir, LogIdent::new("t", 0), config).unwrap())
    }

    fn blank(term: u64, index: u64) -> Entry {
        Entry {
            log_id: log_id(term, index),
            payload: openraft::EntryPayload::Blank,
        }
    }

    /// A normal entry of one record, with the leader's side-car `ack`.
    fn conditional(term: u64, index: u64, ack: LocalAck) -> Entry {
        let record = crate::storage::Record {
            value: Some(bytes::Bytes::from_static(b"v")),
            ..crate::storage::Record::default()
        };
        let mut batch = Vec::new();
        let meta = crate::storage::batch_v2::BatchMeta::default();
        crate::storage::batch_v2::encode(&mut batch, std::iter::once((0, &record)), &meta).unwrap();
        Entry {
            log_id: log_id(term, index),
            payload: openraft::EntryPayload::Normal(Proposal(batch.into(), ack)),
        }
    }

    #[test]
    fn a_conditional_entry_is_written_only_at_its_expected_offset() {
        let dir = tempfile::tempdir().unwrap();
        let replica = ReplicaLog::open(open_log(dir.path()), false).unwrap();
        replica.append(&[blank(1, 0)]).unwrap();

        let (ack, mut landed) = LocalAck::expecting(Some(1));
        replica.append(&[conditional(1, 1, ack)]).unwrap();
        let Ok(Landed::At(applied)) = landed.try_recv() else {
            panic!("the batch expecting offset 1 was not written there");
        };
        assert_eq!((applied.base_offset, applied.last_offset), (1, 1));

        // Expecting 1 again: a placeholder takes the entry's place, and reads back as
        // a blank entry (what followers then store too).
        let (ack, mut landed) = LocalAck::expecting(Some(1));
        replica.append(&[conditional(1, 2, ack)]).unwrap();
        assert_eq!(
            landed.try_recv().unwrap(),
            Landed::Refused {
                expected: 1,
                next_offset: 3
            }
        );
        let stored = replica.read(2, 3, usize::MAX).unwrap();
        assert!(
            matches!(stored[0].payload, EntryPayload::Blank),
            "{stored:?}"
        );
        let outcome = replica
            .log()
            .read(0, crate::storage::ReadLimits::default())
            .unwrap();
        let offsets: Vec<u64> = outcome.records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, vec![1], "only the written batch is a record");

        // Without a condition, an entry is written wherever the log ends.
        let (ack, mut landed) = LocalAck::pair();
        replica.append(&[conditional(1, 3, ack)]).unwrap();
        assert!(matches!(landed.try_recv(), Ok(Landed::At(a)) if a.base_offset == 3));
    }

    #[test]
    fn a_reset_starts_the_numbering_and_the_log_again_at_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let replica = ReplicaLog::open(open_log(dir.path()), false).unwrap();
        replica
            .append(&[blank(1, 0), blank(1, 1), blank(1, 2)])
            .unwrap();
        replica
            .reset(log_id(2, 50), StoredMembership::default(), 700, None)
            .unwrap();
        assert_eq!(replica.map().next_index(), 51);
        assert_eq!(replica.log().log_start_offset(), 700);
        replica.append(&[blank(2, 51)]).unwrap();
        assert_eq!(replica.slot(51).map(|s| s.base_offset), Some(700));
        let state = replica.state().get();
        assert_eq!(state.purged, Some(log_id(2, 50)));
        assert_eq!(state.reset, None);
    }

    #[test]
    fn a_reset_cut_short_by_a_crash_is_finished_at_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let log = open_log(dir.path());
        let replica = ReplicaLog::open(Arc::clone(&log), false).unwrap();
        replica
            .append(&[blank(1, 0), blank(1, 1), blank(1, 2)])
            .unwrap();
        // The crash came after the reset was recorded and before the log changed.
        let pending = PendingReset {
            last: log_id(2, 50),
            membership: StoredMembership::default(),
            next_offset: 700,
            producers: None,
        };
        replica.state().update(|s| s.reset = Some(pending)).unwrap();
        drop(replica);
        Arc::try_unwrap(log).ok().unwrap().close().unwrap();

        let replica = ReplicaLog::open(open_log(dir.path()), false).unwrap();
        let state = replica.state().get();
        assert_eq!(state.reset, None);
        assert_eq!(
            state.anchor,
            Some(Anchor {
                index: 51,
                base_offset: 700
            })
        );
        assert_eq!(state.purged, Some(log_id(2, 50)));
        assert_eq!(state.applied, Some(log_id(2, 50)));
        assert!(replica.map().is_empty());
        assert_eq!(replica.map().next_index(), 51);
        assert_eq!(
            (
                replica.log().log_start_offset(),
                replica.log().next_offset()
            ),
            (700, 700)
        );
    }
}
