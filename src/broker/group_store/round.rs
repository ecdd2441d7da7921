//! Group commit for the offsets log. Every request (a commit, a deletion, an expiry
//! sweep) joins a queue; the first requester that finds no round under way leads one:
//! it takes the whole queue, writes each request's records (each commit one batch, so
//! still all or nothing), makes them durable with one sync, applies them to the table
//! in queue order, and hands every requester its result. Requests arriving meanwhile
//! wait for the next round, led by one of them. This is the partition log's group
//! commit (`storage/append.rs`) one level up: there the log's own sync is shared, here
//! the store's round is, because each commit must also reach the table in log order.

use std::collections::{BTreeSet, HashMap};
use std::sync::PoisonError;
use std::sync::atomic::Ordering;

use super::codec::{self, Scope};
use super::{Committed, GroupKey, GroupStore, GroupStoreError, lock};
use crate::storage::{AppendError, FsyncPolicy, Record};

/// Records per batch of markers or tombstones (bounded well below the batch limit for
/// the longest names).
const RECORDS_PER_BATCH: usize = 1000;

/// One queued request.
pub enum Op {
    /// Store these positions, in one batch.
    Commit(Vec<(GroupKey, Committed)>),
    /// Remove keys.
    Remove(Removal),
}

/// What a removal removes.
pub enum Removal {
    /// Every key of a scope.
    Scope(Scope),
    /// Every group whose newest commit is older than this time (ms since the epoch).
    IdleBefore(i64),
}

/// A request's result.
#[derive(Debug)]
pub enum Done {
    /// A commit is stored.
    Stored,
    /// A removal is stored: how many keys, and the scopes removed.
    Removed {
        /// Keys removed.
        keys: usize,
        /// Scopes that had keys.
        scopes: Vec<Scope>,
    },
}

type Outcome = Result<Done, GroupStoreError>;

/// Requests waiting for a round and results waiting for their requester.
#[derive(Default)]
pub struct Queue {
    pending: Vec<(u64, Op)>,
    leading: bool,
    next_ticket: u64,
    done: HashMap<u64, Outcome>,
}

/// The leader's hand-over: whatever happens in the round (even a panic), the
/// requesters get a result and the next round can start.
struct Leading<'a> {
    store: &'a GroupStore,
    tickets: Vec<u64>,
    results: Vec<(u64, Outcome)>,
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        let mut queue = lock(&self.store.queue);
        queue.leading = false;
        queue.done.extend(self.results.drain(..));
        for ticket in &self.tickets {
            queue
                .done
                .entry(*ticket)
                .or_insert(Err(GroupStoreError::Interrupted));
        }
        self.store.round_done.notify_all();
    }
}

impl GroupStore {
    /// Queues `op` and returns its result once a round has stored it.
    pub(super) fn submit(&self, op: Op) -> Outcome {
        let mut queue = lock(&self.queue);
        let ticket = queue.next_ticket;
        queue.next_ticket += 1;
        queue.pending.push((ticket, op));
        let result = loop {
            if let Some(result) = queue.done.remove(&ticket) {
                break result;
            }
            if queue.leading {
                queue = self
                    .round_done
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            queue.leading = true;
            let ops = std::mem::take(&mut queue.pending);
            drop(queue);
            let mut leading = Leading {
                store: self,
                tickets: ops.iter().map(|(t, _)| *t).collect(),
                results: Vec::with_capacity(ops.len()),
            };
            self.lead(ops, &mut leading.results);
            drop(leading);
            queue = lock(&self.queue);
        };
        drop(queue);
        // Stored already: a compaction that fails must not report the request failed.
        self.compact_quietly();
        result
    }

    /// How many requests were ever queued (tests watch rounds fill up).
    #[cfg(test)]
    pub(super) fn submitted(&self) -> u64 {
        lock(&self.queue).next_ticket
    }

    /// One round: commits are written together and synced once; a removal first makes
    /// the commits before it durable and visible, so it sees the table as the log has it.
    fn lead(&self, ops: Vec<(u64, Op)>, results: &mut Vec<(u64, Outcome)>) {
        self.settle();
        let mut run = Vec::new();
        for (ticket, op) in ops {
            match op {
                Op::Commit(commits) => run.push((ticket, commits)),
                Op::Remove(removal) => {
                    self.commit_run(std::mem::take(&mut run), results);
                    results.push((ticket, self.remove(removal)));
                }
            }
        }
        self.commit_run(run, results);
    }

    fn commit_run(
        &self,
        run: Vec<(u64, Vec<(GroupKey, Committed)>)>,
        results: &mut Vec<(u64, Outcome)>,
    ) {
        let mut written = Vec::with_capacity(run.len());
        let mut new_groups = BTreeSet::new();
        for (ticket, commits) in run {
            let stored = self.admit(&commits, &new_groups).and_then(|group| {
                let records: Vec<Record> = commits
                    .iter()
                    .map(|(k, v)| codec::commit_record(k, v))
                    .collect();
                self.append(&records)?;
                Ok(group)
            });
            match stored {
                Ok(group) => {
                    new_groups.extend(group);
                    written.push((ticket, commits));
                }
                Err(error) => results.push((ticket, Err(error))),
            }
        }
        if written.is_empty() {
            return;
        }
        if let Err(error) = self.sync_round() {
            results.extend(written.iter().map(|(t, _)| (*t, Err(self.failed(&error)))));
            return;
        }
        let mut table = self.table.write().unwrap_or_else(PoisonError::into_inner);
        for (ticket, commits) in written {
            commits.into_iter().for_each(|(k, v)| table.insert(k, v));
            results.push((ticket, Ok(Done::Stored)));
        }
    }

    /// Checks the group cap for a commit; returns the group when it is a new one.
    fn admit(
        &self,
        commits: &[(GroupKey, Committed)],
        new_in_round: &BTreeSet<String>,
    ) -> Result<Option<String>, GroupStoreError> {
        let Some((key, _)) = commits.first() else {
            return Ok(None);
        };
        let table = self.read_table();
        if table.has_group(&key.group) || new_in_round.contains(&key.group) {
            return Ok(None);
        }
        if table.group_count() + new_in_round.len() >= self.config.max_groups {
            return Err(GroupStoreError::TooManyGroups {
                group: key.group.chars().take(64).collect(),
                max: self.config.max_groups,
            });
        }
        Ok(Some(key.group.clone()))
    }

    /// Stores a removal: one marker record per scope is the deletion itself (atomic
    /// whatever the number of keys); the per-key tombstones after it only let
    /// compaction reclaim the space, and are retried later if they cannot be written.
    fn remove(&self, removal: Removal) -> Outcome {
        let keyed = self.keys_of(removal);
        let now = (self.clock)();
        let stored = self.write_markers(&keyed, now)?;
        let keyed = &keyed[..stored];
        let keys: Vec<GroupKey> = keyed.iter().flat_map(|(_, k)| k.iter().cloned()).collect();
        let scopes: Vec<Scope> = keyed.iter().map(|(s, _)| s.clone()).collect();
        let unwritten = self.write_removals(&keys, now);
        {
            let mut unsettled = lock(&self.unsettled);
            unsettled.keys.extend(unwritten);
            unsettled.scopes.extend(scopes.iter().cloned());
            let ready = unsettled.keys.is_empty();
            self.write_settled(&mut unsettled.scopes, ready, now);
        }
        if !scopes.is_empty() {
            self.sync_round().map_err(|e| self.failed(&e))?;
            let mut table = self.table.write().unwrap_or_else(PoisonError::into_inner);
            scopes.iter().for_each(|s| {
                table.remove_scope(s);
            });
        }
        Ok(Done::Removed {
            keys: keys.len(),
            scopes,
        })
    }

    /// The scopes a removal names, each with its keys; scopes without keys are left out.
    fn keys_of(&self, removal: Removal) -> Vec<(Scope, Vec<GroupKey>)> {
        let table = self.read_table();
        let scopes = match removal {
            Removal::Scope(scope) => vec![scope],
            Removal::IdleBefore(horizon) => {
                let idle = table.idle_groups(horizon).into_iter();
                idle.filter(|g| !self.active_since(g, horizon))
                    .map(Scope::Group)
                    .collect()
            }
        };
        scopes
            .into_iter()
            .map(|s| (table.keys_in(&s), s))
            .filter(|(keys, _)| !keys.is_empty())
            .map(|(keys, s)| (s, keys))
            .collect()
    }

    /// Writes the markers of `keyed`; returns how many were stored (the first ones).
    fn write_markers(
        &self,
        keyed: &[(Scope, Vec<GroupKey>)],
        now: i64,
    ) -> Result<usize, GroupStoreError> {
        let mut stored = 0;
        for chunk in keyed.chunks(RECORDS_PER_BATCH) {
            let markers: Vec<Record> = chunk
                .iter()
                .map(|(s, _)| codec::marker_record(s, now))
                .collect();
            match self.append(&markers) {
                Ok(()) => stored += chunk.len(),
                // Nothing stored: the removal failed and changed nothing.
                Err(error) if stored == 0 => return Err(error),
                // Some scopes are stored (an expiry sweep): those are done, the rest
                // are found again by the next sweep.
                Err(_) => break,
            }
        }
        Ok(stored)
    }

    /// Writes the tombstones an earlier removal could not (a full disk), skipping keys
    /// committed again since, then settles the markers. Made durable by the round.
    fn settle(&self) {
        let mut unsettled = lock(&self.unsettled);
        if unsettled.is_empty() {
            return;
        }
        let keys: Vec<GroupKey> = {
            let table = self.read_table();
            std::mem::take(&mut unsettled.keys)
                .into_iter()
                .filter(|k| !table.contains(k))
                .collect()
        };
        let now = (self.clock)();
        unsettled.keys.extend(self.write_removals(&keys, now));
        let ready = unsettled.keys.is_empty();
        self.write_settled(&mut unsettled.scopes, ready, now);
    }

    /// Writes tombstones for `keys`; returns those it could not write.
    fn write_removals(&self, keys: &[GroupKey], now: i64) -> Vec<GroupKey> {
        for (i, chunk) in keys.chunks(RECORDS_PER_BATCH).enumerate() {
            let records: Vec<Record> = chunk
                .iter()
                .map(|k| codec::removal_record(k, now))
                .collect();
            if let Err(error) = self.append(&records) {
                tracing::warn!(%error, "writing consumer-group tombstones failed; the deletion stands, the space is reclaimed after a later write");
                return keys[i * RECORDS_PER_BATCH..].to_vec();
            }
        }
        Vec::new()
    }

    /// Settles `scopes` once every key they removed has its tombstone (`ready`): only
    /// then may compaction drop the markers with the keys' older commits.
    fn write_settled(&self, scopes: &mut BTreeSet<Scope>, ready: bool, now: i64) {
        if !ready || scopes.is_empty() {
            return;
        }
        let records: Vec<Record> = scopes
            .iter()
            .map(|s| codec::settled_record(s, now))
            .collect();
        let all_written = records
            .chunks(RECORDS_PER_BATCH)
            .all(|chunk| self.append(chunk).is_ok());
        // A partly written set is settled again in full later: settling twice is harmless.
        if all_written {
            scopes.clear();
        }
    }

    /// Appends one batch, counting its records toward the compaction threshold.
    fn append(&self, records: &[Record]) -> Result<(), GroupStoreError> {
        self.log.append(records)?;
        self.appended
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Makes the round durable: one sync under `always` (the log syncs by itself under
    /// the other policies).
    fn sync_round(&self) -> Result<(), AppendError> {
        match self.config.fsync {
            FsyncPolicy::Always => self.log.sync(),
            _ => Ok(()),
        }
    }

    /// The error each request of a round whose sync failed gets: the log is poisoned.
    fn failed(&self, first: &AppendError) -> GroupStoreError {
        GroupStoreError::Append(AppendError::Poisoned {
            log: self.log.ident().clone(),
            reason: self
                .log
                .poisoned()
                .map_or_else(|| first.to_string(), str::to_string),
        })
    }
}
