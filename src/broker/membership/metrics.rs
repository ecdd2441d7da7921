//! Names of the membership metrics (re-exported with every other name by
//! `telemetry::names`), and their updates after each coordinator step.

use super::group::{Changes, GroupState};

/// Counter of rebalances (generation bumps), by `group`.
pub const GROUP_REBALANCES: &str = "eventlog_group_rebalances_total";
/// Gauge of a group's members (disconnected static members included), by `group`.
pub const GROUP_MEMBERS: &str = "eventlog_group_members";
/// Gauge of a group's generation, by `group`.
pub const GROUP_GENERATION: &str = "eventlog_group_generation";
/// Histogram of the seconds from a rebalance's start until every partition is with its
/// new owner, by `group`.
pub const GROUP_REBALANCE_SECONDS: &str = "eventlog_group_rebalance_duration_seconds";

/// Publishes what a step changed and the group's member count and generation.
pub(super) fn record(group: &str, state: &GroupState, changes: &Changes) {
    let label = group.to_string();
    if changes.rebalanced {
        metrics::counter!(GROUP_REBALANCES, "group" => label.clone()).increment(1);
    }
    if let Some(took) = changes.settled_after {
        metrics::histogram!(GROUP_REBALANCE_SECONDS, "group" => label.clone())
            .record(took.as_secs_f64());
    }
    metrics::gauge!(GROUP_MEMBERS, "group" => label.clone()).set(state.member_count() as f64);
    metrics::gauge!(GROUP_GENERATION, "group" => label).set(state.generation() as f64);
}
