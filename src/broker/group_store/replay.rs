//! Rebuilding the table from the offsets log at open, and finding the deletions whose
//! per-key tombstones are still missing (a crash or a full disk after the marker).

use std::collections::BTreeSet;

use super::codec::{self, Scope, Stored};
use super::table::Table;
use super::{GroupKey, GroupStoreError};
use crate::storage::{Log, ReadError, ReadLimits};

/// Deletions whose markers are stored but not yet settled: the keys they removed that
/// still need a tombstone, and the markers to settle once those are written.
#[derive(Debug, Default)]
pub struct Unsettled {
    /// Removed keys without a tombstone (or a later commit) after their marker.
    pub keys: BTreeSet<GroupKey>,
    /// Markers without their settling tombstone.
    pub scopes: BTreeSet<Scope>,
}

impl Unsettled {
    /// True when nothing awaits settling.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.scopes.is_empty()
    }

    /// Applies one decoded record to the table, tracking what it leaves unsettled.
    pub fn apply(&mut self, table: &mut Table, stored: Stored) {
        match stored {
            Stored::Commit(key, value) => {
                self.keys.remove(&key);
                table.insert(key, value);
            }
            Stored::Removed(key) => {
                self.keys.remove(&key);
                table.remove(&key);
            }
            Stored::Deleted(scope) => {
                self.keys.extend(table.remove_scope(&scope));
                self.scopes.insert(scope);
            }
            Stored::Settled(scope) => {
                self.scopes.remove(&scope);
            }
        }
    }
}

/// The table, how many records were read, and what is left to settle.
pub fn replay(log: &Log) -> Result<(Table, u64, Unsettled), GroupStoreError> {
    let mut table = Table::default();
    let mut unsettled = Unsettled::default();
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
            return Ok((table, count, unsettled));
        }
        count += got.records.len() as u64;
        for record in &got.records {
            let stored = codec::decode(record.key.as_ref(), record.value.as_ref()).ok_or(
                GroupStoreError::Malformed {
                    offset: record.offset,
                },
            )?;
            unsettled.apply(&mut table, stored);
        }
        next = got.next_offset;
    }
}
