//! Named idempotent producers in a cluster: the name → (id, epoch) registry lives in
//! the metadata group, so `InitProducer` with a name returns the same id with a bumped
//! epoch through whichever node it reaches, and every node fences the older epochs of
//! that id (before proposing a produce), as a single node does with its own registry
//! (`producer_ids`).

use std::sync::Arc;

use super::producer_ids::{ProducerIdentity, check_name};
use super::replication::metadata_failure;
use super::{Broker, BrokerError};
use crate::cluster::metadata::CommandResult;
use crate::cluster::runtime::Cluster;

impl Broker {
    /// The identity of the producer named `name`, from the cluster's registry.
    pub(super) async fn init_named_producer_replicated(
        &self,
        cluster: &Arc<Cluster>,
        name: &str,
    ) -> Result<ProducerIdentity, BrokerError> {
        check_name(name)?;
        // Used only if the name is new: ids issued here are unique in the cluster.
        let fresh = self.init_producer(None).await?;
        let max_names = self.producer_ids.max_names();
        let result = cluster
            .init_named_producer(name, fresh.producer_id, max_names)
            .await
            .map_err(|failure| metadata_failure(name, failure))?;
        match result {
            CommandResult::ProducerInitialized { producer_id, epoch } => {
                Ok(ProducerIdentity { producer_id, epoch })
            }
            CommandResult::TooManyProducerNames => {
                Err(BrokerError::TooManyProducerNames { limit: max_names })
            }
            other => Err(BrokerError::Internal(format!(
                "the cluster answered {other:?} to a producer's initialisation"
            ))),
        }
    }

    /// Checks an idempotent produce's producer: issued (see `ProducerIds::check`), and
    /// in a cluster not an older epoch of a named producer than the registry's.
    pub(super) fn check_producer(&self, producer_id: i64, epoch: i16) -> Result<(), BrokerError> {
        self.producer_ids.check(producer_id, epoch)?;
        let newest = self
            .cluster()
            .and_then(|cluster| cluster.named_producer_epoch(producer_id));
        match newest {
            Some(current) if epoch < current => Err(BrokerError::ProducerFenced {
                producer_id,
                epoch,
                current,
            }),
            _ => Ok(()),
        }
    }
}
