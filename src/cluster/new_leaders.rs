//! Waiting for a new topic's partitions to have leaders: every replica group of a new
//! topic holds its first election as it starts, and until one is won (and the winner's
//! first entry committed) a produce waits for it. A creation through this node waits
//! for the groups it holds a replica of, so that the topic it reports created is one a
//! client can write to at once.

use std::time::Duration;

use super::runtime::Cluster;

/// How often a replica not started yet here is looked for again.
const POLL: Duration = Duration::from_millis(20);

impl Cluster {
    /// Waits, at most `limit` in all, until every partition of `topic` that this node
    /// holds a replica of has a leader it knows; returns the partitions still without
    /// one (empty when all have one).
    pub async fn await_leaders(&self, topic: &str, partitions: u32, limit: Duration) -> Vec<u32> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut leaderless = Vec::new();
        for partition in 0..partitions {
            let held_here = self
                .replicas_of(topic, partition)
                .is_some_and(|replicas| replicas.contains(&self.node_id()));
            if held_here && !self.await_leader(topic, partition, deadline).await {
                leaderless.push(partition);
            }
        }
        leaderless
    }

    /// Whether this node's replica of `topic`/`partition` knows a leader, and has
    /// applied that leader's first entry, by `deadline` (waiting for the replica to
    /// start here first).
    async fn await_leader(
        &self,
        topic: &str,
        partition: u32,
        deadline: tokio::time::Instant,
    ) -> bool {
        let replica = loop {
            if let Some(replica) = self.replica(topic, partition) {
                break replica;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(POLL).await;
        };
        // Elected, and the new leader's first entry (a blank one) applied here: until
        // then the partition's end as readers see it is short of where the next record
        // lands, and a conditional append at that end would be refused.
        let mut metrics = replica.raft().metrics();
        let elected = metrics.wait_for(|m| {
            m.current_leader.is_some()
                && m.last_applied
                    .is_some_and(|applied| applied.leader_id.term == m.current_term)
        });
        matches!(tokio::time::timeout_at(deadline, elected).await, Ok(Ok(_)))
    }
}
