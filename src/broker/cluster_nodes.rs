//! Adding nodes to the cluster, removing them, moving partitions' replicas and
//! balancing their leaders, as the adapters ask for it: one call each, handed to the
//! cluster, which routes it to the leader of the group concerned.

use std::collections::BTreeMap;

use super::{Broker, BrokerError};
use crate::cluster::leader_balance::BalanceReport;
use crate::cluster::node_change::{NodeChange, NodeChangeError};

impl Broker {
    /// Adds node `id`, reached at `address`, to the cluster; returns every node
    /// afterwards.
    pub async fn add_node(
        &self,
        id: u64,
        address: &str,
    ) -> Result<BTreeMap<u64, String>, BrokerError> {
        self.change_nodes(NodeChange::Add {
            id,
            address: address.trim().to_string(),
        })
        .await
    }

    /// Removes node `id` from the cluster; returns every node afterwards.
    pub async fn remove_node(&self, id: u64) -> Result<BTreeMap<u64, String>, BrokerError> {
        self.change_nodes(NodeChange::Remove { id }).await
    }

    /// Moves a partition's replicas to `replicas` (the first is the preferred leader);
    /// returns once the partition's group has the new replicas as voters.
    pub async fn reassign_partition(
        &self,
        topic: &str,
        partition: u32,
        replicas: Vec<u64>,
    ) -> Result<Vec<u64>, BrokerError> {
        self.accepting()?;
        let cluster = self.cluster().ok_or_else(single_node)?;
        cluster.reassign(topic, partition, replicas.clone()).await?;
        Ok(replicas)
    }

    /// Hands every partition's leadership back to its preferred leader (its first
    /// replica) where that one is ready; returns what became of each partition that
    /// another replica led.
    pub async fn balance_leaders(&self) -> Result<BalanceReport, BrokerError> {
        self.accepting()?;
        let cluster = self.cluster().ok_or_else(single_node)?;
        Ok(cluster.balance_leaders(None).await)
    }

    async fn change_nodes(&self, change: NodeChange) -> Result<BTreeMap<u64, String>, BrokerError> {
        self.accepting()?;
        let cluster = self.cluster().ok_or_else(single_node)?;
        Ok(cluster.change_nodes(change).await?)
    }
}

fn single_node() -> BrokerError {
    NodeChangeError::Refused("this server is a single node, not part of a cluster".into()).into()
}
