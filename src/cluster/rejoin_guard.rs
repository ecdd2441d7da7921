//! A node whose data directory was wiped must not come back as the voter it was: it
//! forgot the votes it cast and the entries it acknowledged, so as the same voter it
//! could vote twice in one term, or count toward a majority for entries it no longer
//! holds, and acknowledged records could be lost.
//!
//! A node that starts on an empty data directory with `--cluster` therefore first asks
//! the other nodes listed there what they know (`ClusterControl.Probe`). Every node
//! records itself in the cluster's metadata once it runs (`broker::listeners`); if a
//! peer answers that this node's id has such a record, the node ran before and lost
//! its data: it starts as a *rejoining* node ([`super::rejoin`]), which casts no vote
//! and stands for no election until every group it belongs to has taken it back as a
//! learner, let it catch up, and made it a voter again. A first start is a plain start:
//! at a first bootstrap the peers do not answer yet (a node serves only once its own
//! start is done) or belong to no cluster yet, and a node that starts for the first
//! time after the others formed the cluster without it has no record. A wiped node
//! whose peers are all unreachable cannot be told from a first start; it starts as a
//! new node, and the warning says so. So does a node that lost its data before it
//! ever recorded itself (within moments of its very first start).

use std::collections::BTreeMap;
use std::time::Duration;

use super::network::Channels;
use super::types::NodeId;
use crate::proto::cluster::ProbeRequest;
use crate::proto::cluster::cluster_control_client::ClusterControlClient;

/// How long a peer has to answer the probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether node `node_id`, starting on an empty data directory, ran in the cluster
/// before: `true` when a node of `bootstrap` knows that it did.
pub async fn ran_before(
    channels: &Channels,
    node_id: NodeId,
    bootstrap: &BTreeMap<NodeId, String>,
) -> bool {
    let mut answered = 0;
    for (&peer, addr) in bootstrap.iter().filter(|(id, _)| **id != node_id) {
        let Some(started) = probe(channels, node_id, peer, addr).await else {
            continue;
        };
        answered += 1;
        if started.contains(&node_id) {
            tracing::warn!(
                peer,
                "this node's data directory holds no cluster state, but node {peer} knows \
                 that node {node_id} ran in its cluster before: rejoining as a learner, with \
                 no vote until every group has taken it back (see \"A node that lost its \
                 data\" in docs/cluster.md)"
            );
            return true;
        }
    }
    if answered == 0 && bootstrap.len() > 1 {
        tracing::warn!(
            "no other node answered: starting as a new node of the cluster; if this node's data \
             directory was wiped, stop it (see docs/cluster.md)"
        );
    }
    false
}

/// The nodes that node `peer` at `addr` knows have started, or `None` when it does
/// not answer.
async fn probe(
    channels: &Channels,
    node_id: NodeId,
    peer: NodeId,
    addr: &str,
) -> Option<Vec<NodeId>> {
    let channel = channels.get(peer, addr).ok()?;
    let mut client = ClusterControlClient::new(channel);
    let request = ProbeRequest { node_id };
    match tokio::time::timeout(PROBE_TIMEOUT, client.probe(request)).await {
        Ok(Ok(reply)) => Some(reply.into_inner().started),
        Ok(Err(status)) => {
            tracing::debug!(peer, %status, "probe refused");
            None
        }
        Err(_) => None,
    }
}
