//! In a cluster one node, the group coordinator (the metadata group's leader), holds
//! the consumer groups' members and positions. gRPC forwards group calls there; the
//! HTTP API does not forward yet, so on any other node its group calls (except the
//! list, served from every node's mirror) are refused with UNAVAILABLE naming the
//! coordinator, rather than answered from a copy that may be behind or stored where
//! the coordinator would never see it.

use tonic::Status;
use tonic::metadata::MetadataMap;

use super::ApiError;
use crate::broker::Broker;
use crate::service::group_forward::{self, Route};

/// Ok when this node serves consumer groups itself.
pub fn serves_groups(broker: &Broker) -> Result<(), ApiError> {
    match group_forward::route(broker, &MetadataMap::new())? {
        Route::Here => Ok(()),
        Route::Coordinator(_) => {
            let coordinator = broker
                .cluster()
                .and_then(|c| {
                    let leader = c.metadata_leader()?;
                    Some(format!("node {leader} at {}", c.nodes().get(&leader)?))
                })
                .unwrap_or_else(|| "another node".to_string());
            Err(Status::unavailable(format!(
                "consumer groups are coordinated by {coordinator}: use its HTTP listener, \
                 or gRPC, which forwards group calls"
            ))
            .into())
        }
    }
}
