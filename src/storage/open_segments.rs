//! A cap on how many sealed segments keep their memory map and index in memory.
//!
//! Sealed segments are mapped (and their index loaded) on first use. Without a cap,
//! a broker with thousands of segments would end up holding a map of every one it ever
//! read: each map is an entry in the process's map table (`vm.max_map_count`) and
//! address space, and each loaded index is heap memory. One [`OpenSegments`] is shared
//! by every log of a broker; when admitting a segment would exceed the cap, the least
//! recently used one is unloaded.
//!
//! Unloading drops only the segment's own reference to its map: a reader that cloned
//! the `Arc` of the map keeps reading it, and the map is unmapped when that reader is
//! done. Touching a segment on every read is one relaxed atomic store (no lock); the
//! lock is taken only when a segment is loaded or dropped, and eviction scans the
//! members for the oldest stamp. Loading a segment costs an `open` and an `mmap`, so
//! a scan of at most `cap` stamps there is cheap, and no LRU crate is needed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};

use super::mmap::SegmentMap;
use super::shared_index::SharedIndex;

/// The default cap on open sealed segments of one broker.
pub const DEFAULT_MAX_OPEN_SEGMENTS: usize = 1024;

/// A shared cap on loaded sealed segments. Cloning shares the same budget.
#[derive(Clone)]
pub struct OpenSegments {
    shared: Arc<Shared>,
}

struct Shared {
    cap: usize,
    /// Logical clock stamping each use of a segment, for least-recently-used order.
    clock: AtomicU64,
    next_id: AtomicU64,
    members: Mutex<HashMap<u64, Member>>,
    peak: AtomicUsize,
    evictions: AtomicU64,
}

/// A loaded segment as the budget sees it. The stamp is shared with the segment so the
/// scan for the oldest never upgrades the weak reference: dropping such an upgrade
/// could drop the segment, whose `Drop` takes the lock the scan holds.
struct Member {
    resident: Weak<Resident>,
    last_used: Arc<AtomicU64>,
}

impl OpenSegments {
    /// A budget allowing at most `cap` loaded sealed segments (at least 1).
    pub fn new(cap: usize) -> OpenSegments {
        // Messages about running out of files name the limit, which cannot be read then.
        super::exhausted::remember_open_file_limit();
        OpenSegments {
            shared: Arc::new(Shared {
                cap: cap.max(1),
                clock: AtomicU64::new(0),
                next_id: AtomicU64::new(0),
                members: Mutex::new(HashMap::new()),
                peak: AtomicUsize::new(0),
                evictions: AtomicU64::new(0),
            }),
        }
    }

    /// The cap.
    pub fn cap(&self) -> usize {
        self.shared.cap
    }

    /// Sealed segments holding a map or an index now.
    pub fn open(&self) -> usize {
        self.members().len()
    }

    /// The largest number of sealed segments ever held at once.
    pub fn peak(&self) -> usize {
        self.shared.peak.load(Ordering::Relaxed)
    }

    /// How many times a segment was unloaded to stay within the cap.
    pub fn evictions(&self) -> u64 {
        self.shared.evictions.load(Ordering::Relaxed)
    }

    fn members(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Member>> {
        // The map only holds weak references; a panic elsewhere cannot leave it torn.
        self.shared
            .members
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The loadable state of a new segment, charged to this budget once sealed and loaded.
    pub(crate) fn resident(&self) -> Arc<Resident> {
        Arc::new(Resident {
            id: self.shared.next_id.fetch_add(1, Ordering::Relaxed),
            budget: self.clone(),
            last_used: Arc::new(AtomicU64::new(0)),
            map: RwLock::new(None),
            index: RwLock::new(None),
        })
    }

    /// Counts `resident` as open, unloading the least recently used others first if the
    /// cap would be exceeded. Victims are unloaded after the lock is released, because
    /// unloading takes their locks, which a loader may hold while it waits for ours.
    fn admit(&self, resident: &Arc<Resident>) {
        resident.touch();
        let victims = {
            let mut members = self.members();
            if members.contains_key(&resident.id) {
                return;
            }
            let mut victims = Vec::new();
            while members.len() >= self.shared.cap {
                let oldest = members
                    .iter()
                    .min_by_key(|(_, m)| m.last_used.load(Ordering::Relaxed))
                    .map(|(id, _)| *id);
                let Some(member) = oldest.and_then(|id| members.remove(&id)) else {
                    break;
                };
                // Dropped (with the unloading) only after the lock is released.
                victims.extend(member.resident.upgrade());
            }
            members.insert(
                resident.id,
                Member {
                    resident: Arc::downgrade(resident),
                    last_used: resident.last_used.clone(),
                },
            );
            self.shared.peak.fetch_max(members.len(), Ordering::Relaxed);
            victims
        };
        self.shared
            .evictions
            .fetch_add(victims.len() as u64, Ordering::Relaxed);
        for victim in victims {
            victim.unload();
        }
    }

    fn forget(&self, id: u64) {
        self.members().remove(&id);
    }
}

impl Default for OpenSegments {
    fn default() -> Self {
        OpenSegments::new(DEFAULT_MAX_OPEN_SEGMENTS)
    }
}

impl std::fmt::Debug for OpenSegments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenSegments")
            .field("cap", &self.cap())
            .finish_non_exhaustive()
    }
}

/// Two handles are equal when they share one budget.
impl PartialEq for OpenSegments {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl Eq for OpenSegments {}

/// A segment's map and index: what loading builds and eviction drops.
///
/// Lock order: `index` before `map` (rebuilding an index reads the map), in loading,
/// unloading and retiring alike.
pub(crate) struct Resident {
    id: u64,
    budget: OpenSegments,
    last_used: Arc<AtomicU64>,
    /// The segment's own reference to its map; readers clone the `Arc`.
    pub map: RwLock<Option<Arc<SegmentMap>>>,
    /// The segment's own reference to its index.
    pub index: RwLock<Option<Arc<SharedIndex>>>,
}

impl Resident {
    /// Marks a use, for least-recently-used order.
    pub fn touch(&self) {
        let now = self.budget.shared.clock.fetch_add(1, Ordering::Relaxed) + 1;
        self.last_used.store(now, Ordering::Relaxed);
    }

    /// Counts this (sealed, loaded) segment against the cap.
    pub fn admit(self: &Arc<Self>) {
        self.budget.admit(self);
    }

    /// Drops the segment's references to its map and index; the next use loads them again.
    fn unload(&self) {
        let mut index = self.index.write().unwrap_or_else(PoisonError::into_inner);
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        *index = None;
        *map = None;
    }
}

impl Drop for Resident {
    fn drop(&mut self) {
        self.budget.forget(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(budget: &OpenSegments) -> Arc<Resident> {
        let resident = budget.resident();
        *resident.index.write().unwrap() = Some(Arc::new(SharedIndex::default()));
        resident.admit();
        resident
    }

    #[test]
    fn the_least_recently_used_segment_is_unloaded() {
        let budget = OpenSegments::new(2);
        let a = loaded(&budget);
        let b = loaded(&budget);
        a.touch();
        let c = loaded(&budget);
        assert_eq!(budget.open(), 2);
        assert!(a.index.read().unwrap().is_some());
        assert!(
            b.index.read().unwrap().is_none(),
            "b was used least recently"
        );
        assert!(c.index.read().unwrap().is_some());
        assert_eq!(budget.evictions(), 1);
        drop(c);
        assert_eq!(budget.open(), 1, "a dropped segment leaves the budget");
        assert_eq!(budget.peak(), 2);
    }
}
