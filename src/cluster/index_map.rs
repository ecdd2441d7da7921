//! Where each Raft entry of a group lies in its partition log.
//!
//! Raft numbers entries 1, 2, 3, ...; a partition log numbers records. Every entry is
//! one batch and batches are never removed from the middle of a replica log
//! (compaction keeps emptied batch headers), so an entry's index is its batch's
//! position counted from an **anchor**: the index of one batch whose offset is known.
//! This map holds, for each entry still in the log, its batch's offsets and term; it
//! is rebuilt at open by walking batch headers from the anchor, which is kept in the
//! group's state file (see [`super::state_file`]).

use std::collections::VecDeque;

use super::types::LogId;

/// One entry's batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Offset of the batch's first record.
    pub base_offset: u64,
    /// One past the batch's last offset.
    pub next_offset: u64,
    /// The entry's term.
    pub term: u64,
}

/// The entries of a group's log, by index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexMap {
    /// Index of the first slot (or of the next entry, when there is none).
    first: u64,
    slots: VecDeque<Slot>,
}

impl IndexMap {
    /// A map whose next entry has index `first`.
    pub fn starting_at(first: u64) -> IndexMap {
        IndexMap {
            first,
            slots: VecDeque::new(),
        }
    }

    /// Index of the next entry to append.
    pub fn next_index(&self) -> u64 {
        self.first + self.slots.len() as u64
    }

    /// Index of the first entry held.
    pub fn first_index(&self) -> u64 {
        self.first
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The log id of the last entry held.
    pub fn last_log_id(&self) -> Option<LogId> {
        let slot = self.slots.back()?;
        Some(log_id(slot.term, self.next_index() - 1))
    }

    /// The entry at `index`, if held.
    pub fn get(&self, index: u64) -> Option<Slot> {
        let at = index.checked_sub(self.first)?;
        self.slots.get(usize::try_from(at).ok()?).copied()
    }

    /// The index of the last entry held whose batch lies wholly below `offset`.
    pub fn last_index_below(&self, offset: u64) -> Option<u64> {
        let below = self.slots.partition_point(|s| s.next_offset <= offset) as u64;
        below.checked_sub(1).map(|i| self.first + i)
    }

    /// Adds the next entry; `index` must be [`IndexMap::next_index`].
    pub fn push(&mut self, index: u64, slot: Slot) -> Result<(), String> {
        if index != self.next_index() {
            return Err(format!(
                "entry {index} appended where entry {} belongs",
                self.next_index()
            ));
        }
        if let Some(last) = self.slots.back()
            && slot.base_offset < last.next_offset
        {
            return Err(format!(
                "entry {index} at offset {} overlaps the previous batch ending at {}",
                slot.base_offset, last.next_offset
            ));
        }
        self.slots.push_back(slot);
        Ok(())
    }

    /// Removes the entries at and after `index`; returns the log offset to truncate to
    /// (the first removed batch's base), or `None` when nothing was held there.
    pub fn truncate_from(&mut self, index: u64) -> Option<u64> {
        let keep = index.saturating_sub(self.first);
        let keep = usize::try_from(keep).unwrap_or(usize::MAX);
        let cut = self.slots.get(keep).map(|s| s.base_offset);
        if keep < self.slots.len() {
            self.slots.truncate(keep);
        }
        if self.slots.is_empty() && index < self.first {
            self.first = index;
        }
        cut
    }

    /// Forgets the entries up to and including `index` (Raft purged them); the next
    /// entry kept, if any, becomes the first.
    pub fn purge_through(&mut self, index: u64) {
        while self.first <= index && !self.slots.is_empty() {
            self.slots.pop_front();
            self.first += 1;
        }
        if self.slots.is_empty() && self.first <= index {
            self.first = index + 1;
        }
    }
}

/// A log id from a term and an index.
pub fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(openraft::CommittedLeaderId::new(term, 0), index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(base: u64, next: u64, term: u64) -> Slot {
        Slot {
            base_offset: base,
            next_offset: next,
            term,
        }
    }

    fn filled() -> IndexMap {
        let mut map = IndexMap::starting_at(5);
        map.push(5, slot(0, 3, 1)).unwrap();
        map.push(6, slot(3, 4, 1)).unwrap();
        map.push(7, slot(4, 10, 2)).unwrap();
        map
    }

    #[test]
    fn entries_are_found_by_index_and_must_come_in_order() {
        let mut map = filled();
        assert_eq!(map.get(6), Some(slot(3, 4, 1)));
        assert_eq!(map.get(4), None);
        assert_eq!(map.get(8), None);
        assert_eq!(map.last_log_id(), Some(log_id(2, 7)));
        assert!(map.push(9, slot(10, 11, 2)).is_err(), "a gap in indexes");
        assert!(map.push(8, slot(9, 11, 2)).is_err(), "overlapping offsets");
        map.push(8, slot(10, 11, 2)).unwrap();
        assert_eq!(map.next_index(), 9);
    }

    #[test]
    fn truncation_returns_the_offset_to_cut_the_log_at() {
        let mut map = filled();
        assert_eq!(map.truncate_from(8), None);
        assert_eq!(map.truncate_from(6), Some(3));
        assert_eq!(map.next_index(), 6);
        assert_eq!(map.truncate_from(2), Some(0));
        assert!(map.is_empty());
        assert_eq!(map.next_index(), 2);
    }

    #[test]
    fn the_last_entry_below_an_offset_is_found_by_its_batch_end() {
        let map = filled();
        assert_eq!(map.last_index_below(2), None, "entry 5 ends at 3");
        assert_eq!(map.last_index_below(3), Some(5));
        assert_eq!(map.last_index_below(9), Some(6));
        assert_eq!(map.last_index_below(10), Some(7));
        assert_eq!(map.last_index_below(u64::MAX), Some(7));
        assert_eq!(IndexMap::starting_at(4).last_index_below(100), None);
    }

    #[test]
    fn purging_moves_the_first_index_past_the_purged_entries() {
        let mut map = filled();
        map.purge_through(5);
        assert_eq!(map.first_index(), 6);
        assert_eq!(map.get(6), Some(slot(3, 4, 1)));
        map.purge_through(20);
        assert!(map.is_empty());
        assert_eq!(map.next_index(), 21);
        assert_eq!(map.last_log_id(), None);
    }
}
