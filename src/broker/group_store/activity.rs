//! Membership's say in idle-group expiry: a group with live members is never idle, and
//! one whose last member left counts as active until then, so the retention starts
//! when the group empties rather than at its last commit (Kafka expires a group's
//! offsets only once it has no members). The store asks a probe the broker installs;
//! without one, only commit times count.

use std::sync::{Arc, PoisonError};

use super::GroupStore;

/// When a group was last in use by members, ms since the epoch: `i64::MAX` while it has
/// members, `None` when membership does not know it.
pub type ActivityProbe = Arc<dyn Fn(&str) -> Option<i64> + Send + Sync>;

impl GroupStore {
    /// Installs the probe expiry consults.
    pub fn set_activity_probe(&self, probe: ActivityProbe) {
        *self
            .activity
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(probe);
    }

    /// True when members used `group` at or after `horizon_ms`.
    pub(super) fn active_since(&self, group: &str, horizon_ms: i64) -> bool {
        let probe = self.activity.read().unwrap_or_else(PoisonError::into_inner);
        probe
            .as_ref()
            .and_then(|probe| probe(group))
            .is_some_and(|last| last >= horizon_ms)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, Ordering};

    use super::super::{GroupStore, GroupStoreConfig};

    const DAY_MS: i64 = 24 * 3600 * 1000;

    #[test]
    fn groups_in_use_by_members_are_not_expired() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(AtomicI64::new(100 * DAY_MS));
        let now = {
            let clock = Arc::clone(&clock);
            Box::new(move || clock.load(Ordering::Acquire))
        };
        let store =
            GroupStore::open_with_clock(dir.path(), GroupStoreConfig::default(), now).unwrap();
        for group in ["live", "emptied", "idle"] {
            store
                .commit(group, "t", &[(0, 1, String::new())], 100 * DAY_MS)
                .unwrap();
        }
        store.set_activity_probe(Arc::new(|group: &str| match group {
            "live" => Some(i64::MAX),
            "emptied" => Some(105 * DAY_MS),
            _ => None,
        }));
        clock.store(108 * DAY_MS, Ordering::Release);
        assert_eq!(store.expire_idle().unwrap(), vec!["idle".to_string()]);
        clock.store(113 * DAY_MS, Ordering::Release);
        assert_eq!(store.expire_idle().unwrap(), vec!["emptied".to_string()]);
        assert_eq!(store.groups(), vec!["live".to_string()]);
    }
}
