//! Idle-group expiry, like Kafka's `offsets.retention.minutes`: a group none of whose
//! commits is newer than the retention is removed, in one sweep (one round, one
//! marker per group) at most once a minute. Commit times are stored with the commits,
//! so a restart neither resets nor forgets how long a group has been idle.

use super::round::{Done, Op, Removal};
use super::{GroupStore, GroupStoreError, Scope, lock};

/// Least time between two sweeps, in ms.
const SWEEP_EVERY_MS: i64 = 60_000;

impl GroupStore {
    /// Sweeps when the retention is on and the last sweep is a minute old.
    pub(super) fn expire_if_due(&self) {
        if self.config.retention.is_zero() {
            return;
        }
        let now = (self.clock)();
        {
            let mut last = lock(&self.last_expiry_ms);
            if last.is_some_and(|t| now.saturating_sub(t) < SWEEP_EVERY_MS) {
                return;
            }
            *last = Some(now);
        }
        if let Err(error) = self.expire_idle() {
            tracing::warn!(%error, "removing idle consumer groups failed; retried in a minute");
        }
    }

    /// Removes every group idle for longer than the retention; returns their names.
    pub fn expire_idle(&self) -> Result<Vec<String>, GroupStoreError> {
        let retention_ms = i64::try_from(self.config.retention.as_millis()).unwrap_or(i64::MAX);
        let horizon = (self.clock)().saturating_sub(retention_ms);
        let Done::Removed { keys, scopes } =
            self.submit(Op::Remove(Removal::IdleBefore(horizon)))?
        else {
            return Ok(Vec::new());
        };
        let groups: Vec<String> = scopes
            .into_iter()
            .filter_map(|s| match s {
                Scope::Group(group) => Some(group),
                Scope::Topic(_) => None,
            })
            .collect();
        if !groups.is_empty() {
            tracing::info!(
                groups = groups.len(),
                keys,
                first = %groups[0],
                retention = ?self.config.retention,
                "removed consumer groups idle for longer than the retention"
            );
        }
        Ok(groups)
    }
}
