//! Adding nodes to the cluster and removing them, as the adapters ask for it: one
//! call each, handed to the cluster, which routes it to the metadata group's leader.

use std::collections::BTreeMap;

use super::{Broker, BrokerError};
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

    async fn change_nodes(&self, change: NodeChange) -> Result<BTreeMap<u64, String>, BrokerError> {
        self.accepting()?;
        let Some(cluster) = self.cluster() else {
            return Err(NodeChangeError::Refused(
                "this server is a single node, not part of a cluster".into(),
            )
            .into());
        };
        Ok(cluster.change_nodes(change).await?)
    }
}
