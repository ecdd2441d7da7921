//! Announcing this node's client listeners to the cluster: a node that runs a Kafka
//! listener records its advertised address in the cluster's metadata (a
//! `SetListeners` command), so the Kafka listener of every node can name the other
//! nodes in Metadata and the group coordinator in FindCoordinator, as Kafka brokers
//! register with their controller.
//!
//! A background task keeps the record equal to what this node runs: it proposes the
//! record when the metadata differs (at start, or after a restart with other flags),
//! and again after a failure (no metadata leader yet), until it holds. Every node
//! records itself so, with a Kafka listener or without: the record also tells that
//! the node has started before (see `cluster::rejoin_guard`).

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::Broker;
use crate::cluster::metadata::NodeListeners;

/// The pause after a failed announcement (the metadata group may have no leader yet).
const RETRY: Duration = Duration::from_secs(1);
/// How long an accepted announcement waits to be applied here before it is checked.
const APPLY_WAIT: Duration = Duration::from_secs(2);

impl Broker {
    /// Keeps this node's record in the cluster's metadata naming `kafka` (the Kafka
    /// listener's advertised `host:port`, or none) from now until shutdown. Nothing
    /// for a single node.
    pub fn announce_listeners(self: &Arc<Self>, kafka: Option<String>) {
        let Some(cluster) = self.cluster().cloned() else {
            return;
        };
        let wanted = NodeListeners { kafka };
        let broker: Weak<Broker> = Arc::downgrade(self);
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            let mut metadata = cluster.metadata();
            loop {
                let recorded = metadata
                    .borrow_and_update()
                    .0
                    .listeners
                    .get(&cluster.node_id())
                    .cloned();
                if broker.strong_count() == 0 {
                    return;
                }
                if recorded.as_ref() == Some(&wanted) {
                    tokio::select! {
                        changed = metadata.changed() => if changed.is_err() { return },
                        () = shutdown.cancelled() => return,
                    }
                    continue;
                }
                let pause = match cluster.set_listeners(wanted.clone()).await {
                    Ok(_) => APPLY_WAIT,
                    Err(error) => {
                        tracing::debug!(%error, "could not announce this node's listeners yet");
                        RETRY
                    }
                };
                tokio::select! {
                    _ = tokio::time::timeout(pause, metadata.changed()) => {}
                    () = shutdown.cancelled() => return,
                }
            }
        });
    }
}
