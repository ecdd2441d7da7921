//! The `eventlog.v1.Admin` service: create, delete, list and describe topics, and add
//! partitions to them; list, describe, delete and reset consumer groups; add and remove
//! cluster nodes, move partitions' replicas and balance their leaders.
//!
//! Every RPC checks the topics and groups it names against the caller's
//! [`Scope`] before the broker call; listings show only what the scope may name.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::cleanup_convert::config_update;
use super::cluster_convert::{balance_reply, describe_cluster_reply, nodes_to_wire};
use super::group_convert::reset_target;
use super::group_forward::{self, Route, peer_of};
use super::member_convert::membership_to_wire;
use super::scope::Scope;
use crate::broker::{Broker, NewTopic};
use crate::proto::v1 as pb;
use crate::proto::v1::admin_server::Admin;

/// Serves `Admin` over a shared [`Broker`].
#[derive(Clone)]
pub struct AdminService {
    broker: Arc<Broker>,
}

impl AdminService {
    /// A service administering `broker`.
    pub fn new(broker: Arc<Broker>) -> Self {
        AdminService { broker }
    }
}

/// The request's scope and message, once `name` (a topic it names) is in the scope.
fn topic_request<T>(request: Request<T>, name: impl Fn(&T) -> &str) -> Result<(Scope, T), Status> {
    let scope = Scope::of(&request)?;
    let request = request.into_inner();
    scope.check_topic(name(&request))?;
    Ok((scope, request))
}

/// The request's scope and message, once `group` (a group it names) is in the scope.
fn group_request<T>(request: Request<T>, group: impl Fn(&T) -> &str) -> Result<(Scope, T), Status> {
    let scope = Scope::of(&request)?;
    let request = request.into_inner();
    scope.check_group(group(&request))?;
    Ok((scope, request))
}

/// The request's message, once its scope covers every topic: changing the cluster's
/// nodes concerns where every topic's replicas live, and balancing leaders moves every
/// topic's.
fn cluster_request<T>(request: Request<T>) -> Result<T, Status> {
    let scope = Scope::of(&request)?;
    if !scope.allows_every_topic() {
        return Err(Status::permission_denied(
            "changing the cluster's nodes or leaders needs a token not limited to topic prefixes",
        ));
    }
    Ok(request.into_inner())
}

/// Keeps the group positions of topics the scope may name.
fn visible_positions(
    scope: &Scope,
    positions: impl IntoIterator<Item = pb::GroupPartitionOffset>,
) -> Vec<pb::GroupPartitionOffset> {
    positions
        .into_iter()
        .filter(|p| scope.allows_topic(&p.topic))
        .collect()
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn create_topic(
        &self,
        request: Request<pb::CreateTopicRequest>,
    ) -> Result<Response<pb::CreateTopicResponse>, Status> {
        let (_, request) = topic_request(request, |r| &r.name)?;
        let new_topic = NewTopic::try_from(request)?;
        let created = self.broker.create_topic(new_topic).await?;
        Ok(Response::new(pb::CreateTopicResponse {
            topic: Some(created.into()),
        }))
    }

    async fn delete_topic(
        &self,
        request: Request<pb::DeleteTopicRequest>,
    ) -> Result<Response<pb::DeleteTopicResponse>, Status> {
        let (_, request) = topic_request(request, |r| &r.name)?;
        self.broker.delete_topic(&request.name).await?;
        Ok(Response::new(pb::DeleteTopicResponse {}))
    }

    async fn create_partitions(
        &self,
        request: Request<pb::CreatePartitionsRequest>,
    ) -> Result<Response<pb::CreatePartitionsResponse>, Status> {
        let (_, request) = topic_request(request, |r| &r.name)?;
        let topic = self
            .broker
            .add_partitions(&request.name, request.partitions, request.validate_only)
            .await?;
        Ok(Response::new(pb::CreatePartitionsResponse {
            topic: Some(topic.into()),
        }))
    }

    async fn list_topics(
        &self,
        request: Request<pb::ListTopicsRequest>,
    ) -> Result<Response<pb::ListTopicsResponse>, Status> {
        let scope = Scope::of(&request)?;
        let topics = self
            .broker
            .list_topics()?
            .into_iter()
            .map(pb::TopicSummary::from)
            .filter(|topic| scope.allows_topic(&topic.name))
            .collect();
        Ok(Response::new(pb::ListTopicsResponse { topics }))
    }

    async fn describe_cluster(
        &self,
        request: Request<pb::DescribeClusterRequest>,
    ) -> Result<Response<pb::DescribeClusterResponse>, Status> {
        let scope = Scope::of(&request)?;
        let description = self.broker.describe_cluster()?;
        Ok(Response::new(describe_cluster_reply(
            description,
            |topic| scope.allows_topic(topic),
        )))
    }

    async fn add_node(
        &self,
        request: Request<pb::AddNodeRequest>,
    ) -> Result<Response<pb::AddNodeResponse>, Status> {
        let request = cluster_request(request)?;
        let nodes = self
            .broker
            .add_node(request.node_id, &request.address)
            .await?;
        Ok(Response::new(pb::AddNodeResponse {
            nodes: nodes_to_wire(nodes, &Default::default()),
        }))
    }

    async fn remove_node(
        &self,
        request: Request<pb::RemoveNodeRequest>,
    ) -> Result<Response<pb::RemoveNodeResponse>, Status> {
        let nodes = self
            .broker
            .remove_node(cluster_request(request)?.node_id)
            .await?;
        Ok(Response::new(pb::RemoveNodeResponse {
            nodes: nodes_to_wire(nodes, &Default::default()),
        }))
    }

    async fn reassign_partition(
        &self,
        request: Request<pb::ReassignPartitionRequest>,
    ) -> Result<Response<pb::ReassignPartitionResponse>, Status> {
        let (_, request) = topic_request(request, |r| &r.topic)?;
        let replicas = self
            .broker
            .reassign_partition(&request.topic, request.partition, request.replicas)
            .await?;
        Ok(Response::new(pb::ReassignPartitionResponse { replicas }))
    }

    async fn balance_leaders(
        &self,
        request: Request<pb::BalanceLeadersRequest>,
    ) -> Result<Response<pb::BalanceLeadersResponse>, Status> {
        cluster_request(request)?;
        let report = self.broker.balance_leaders().await?;
        Ok(Response::new(balance_reply(report)))
    }

    async fn update_topic_config(
        &self,
        request: Request<pb::UpdateTopicConfigRequest>,
    ) -> Result<Response<pb::UpdateTopicConfigResponse>, Status> {
        let (_, request) = topic_request(request, |r| &r.name)?;
        let update = config_update(&request)?;
        let topic = self
            .broker
            .update_topic_config(&request.name, update)
            .await?;
        Ok(Response::new(pb::UpdateTopicConfigResponse {
            topic: Some(topic.into()),
        }))
    }

    async fn compact_topic(
        &self,
        request: Request<pb::CompactTopicRequest>,
    ) -> Result<Response<pb::CompactTopicResponse>, Status> {
        let (_, request) = topic_request(request, |r| &r.name)?;
        let done = self
            .broker
            .compact_topic(&request.name, request.dry_run)
            .await?;
        Ok(Response::new(pb::CompactTopicResponse {
            partitions: done.replicas.into_iter().map(Into::into).collect(),
            dry_run: request.dry_run,
            unreachable: done
                .unreachable
                .into_iter()
                .map(|(node_id, reason)| pb::UnreachableNode { node_id, reason })
                .collect(),
        }))
    }

    async fn describe_topic(
        &self,
        request: Request<pb::DescribeTopicRequest>,
    ) -> Result<Response<pb::DescribeTopicResponse>, Status> {
        let (_, request) = topic_request(request, |r| &r.name)?;
        let description = self.broker.describe_topic(&request.name).await?;
        Ok(Response::new(description.into()))
    }

    async fn list_groups(
        &self,
        request: Request<pb::ListGroupsRequest>,
    ) -> Result<Response<pb::ListGroupsResponse>, Status> {
        let scope = Scope::of(&request)?;
        let groups = self
            .broker
            .list_groups()?
            .into_iter()
            .map(pb::GroupSummary::from)
            .filter(|group| scope.allows_group(&group.group))
            .map(|mut group| {
                group.topics.retain(|topic| scope.allows_topic(topic));
                group
            })
            .collect();
        Ok(Response::new(pb::ListGroupsResponse { groups }))
    }

    async fn describe_group(
        &self,
        request: Request<pb::DescribeGroupRequest>,
    ) -> Result<Response<pb::DescribeGroupResponse>, Status> {
        let (metadata, client) = (request.metadata().clone(), peer_of(&request));
        let (scope, request) = group_request(request, |r| &r.group)?;
        if let Route::Coordinator(channel) = group_forward::route(&self.broker, &metadata)? {
            return group_forward::describe_group(channel, &metadata, &client, request).await;
        }
        let (membership, positions) = self.broker.describe_group_members(&request.group).await?;
        let partitions = visible_positions(&scope, positions.into_iter().map(Into::into));
        let (generation, strategy, mut members) = membership_to_wire(membership);
        // As with positions: a scoped token sees only the topics it may name.
        for member in &mut members {
            member.assigned.retain(|t| scope.allows_topic(&t.topic));
            member.revoking.retain(|t| scope.allows_topic(&t.topic));
        }
        Ok(Response::new(pb::DescribeGroupResponse {
            partitions,
            generation,
            strategy,
            members,
        }))
    }

    async fn delete_group(
        &self,
        request: Request<pb::DeleteGroupRequest>,
    ) -> Result<Response<pb::DeleteGroupResponse>, Status> {
        let (metadata, client) = (request.metadata().clone(), peer_of(&request));
        let (scope, request) = group_request(request, |r| &r.group)?;
        if let Route::Coordinator(channel) = group_forward::route(&self.broker, &metadata)? {
            return group_forward::delete_group(channel, &metadata, &client, request).await;
        }
        let removed = self
            .broker
            .delete_group(&request.group, request.dry_run)
            .await?;
        let partitions = visible_positions(&scope, removed.into_iter().map(Into::into));
        Ok(Response::new(pb::DeleteGroupResponse { partitions }))
    }

    async fn reset_group_offsets(
        &self,
        request: Request<pb::ResetGroupOffsetsRequest>,
    ) -> Result<Response<pb::ResetGroupOffsetsResponse>, Status> {
        let (metadata, client) = (request.metadata().clone(), peer_of(&request));
        let (scope, request) = group_request(request, |r| &r.group)?;
        scope.check_topic(&request.topic)?;
        if let Route::Coordinator(channel) = group_forward::route(&self.broker, &metadata)? {
            return group_forward::reset_group_offsets(channel, &metadata, &client, request).await;
        }
        let to = reset_target(&request)?;
        let moved = self
            .broker
            .reset_group_offsets(
                &request.group,
                &request.topic,
                request.partition,
                to,
                request.dry_run,
            )
            .await?;
        Ok(Response::new(pb::ResetGroupOffsetsResponse {
            partitions: moved.into_iter().map(Into::into).collect(),
            dry_run: request.dry_run,
        }))
    }
}
