//! Consumer-group commands of the metadata group, as the broker proposes them: a
//! commit or a group deletion is acknowledged once a majority of nodes holds it.

use super::group_offsets::OffsetEntry;
use super::metadata::{Command, CommandResult};
use super::propose::ProposeFailure;
use super::runtime::Cluster;

impl Cluster {
    /// Commits `group`'s positions in partitions of `topic` through the metadata
    /// group. Returns what applying did (`NotFound` when the topic or a partition does
    /// not exist) and the entry's index.
    pub async fn commit_offsets(
        &self,
        group: &str,
        topic: &str,
        offsets: Vec<OffsetEntry>,
        time_ms: i64,
    ) -> Result<(CommandResult, u64), ProposeFailure> {
        self.propose_metadata_at(Command::CommitOffsets {
            group: group.to_string(),
            topic: topic.to_string(),
            offsets,
            time_ms,
        })
        .await
    }

    /// Removes every position of `group` through the metadata group.
    pub async fn delete_group(&self, group: &str) -> Result<(CommandResult, u64), ProposeFailure> {
        self.propose_metadata_at(Command::DeleteGroup {
            group: group.to_string(),
        })
        .await
    }
}
