//! The `eventlog.v1.Admin` service: create, delete, list and describe topics; list,
//! describe, delete and reset consumer groups.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::cleanup_convert::config_update;
use super::group_convert::reset_target;
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

#[tonic::async_trait]
impl Admin for AdminService {
    async fn create_topic(
        &self,
        request: Request<pb::CreateTopicRequest>,
    ) -> Result<Response<pb::CreateTopicResponse>, Status> {
        let new_topic = NewTopic::try_from(request.into_inner())?;
        let created = self.broker.create_topic(new_topic).await?;
        Ok(Response::new(pb::CreateTopicResponse {
            topic: Some(created.into()),
        }))
    }

    async fn delete_topic(
        &self,
        request: Request<pb::DeleteTopicRequest>,
    ) -> Result<Response<pb::DeleteTopicResponse>, Status> {
        self.broker.delete_topic(&request.into_inner().name).await?;
        Ok(Response::new(pb::DeleteTopicResponse {}))
    }

    async fn list_topics(
        &self,
        _request: Request<pb::ListTopicsRequest>,
    ) -> Result<Response<pb::ListTopicsResponse>, Status> {
        let topics = self
            .broker
            .list_topics()?
            .into_iter()
            .map(Into::into)
            .collect();
        Ok(Response::new(pb::ListTopicsResponse { topics }))
    }

    async fn update_topic_config(
        &self,
        request: Request<pb::UpdateTopicConfigRequest>,
    ) -> Result<Response<pb::UpdateTopicConfigResponse>, Status> {
        let request = request.into_inner();
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
        let request = request.into_inner();
        let partitions = self
            .broker
            .compact_topic(&request.name, request.dry_run)
            .await?;
        Ok(Response::new(pb::CompactTopicResponse {
            partitions: partitions.into_iter().map(Into::into).collect(),
            dry_run: request.dry_run,
        }))
    }

    async fn describe_topic(
        &self,
        request: Request<pb::DescribeTopicRequest>,
    ) -> Result<Response<pb::DescribeTopicResponse>, Status> {
        let description = self
            .broker
            .describe_topic(&request.into_inner().name)
            .await?;
        Ok(Response::new(description.into()))
    }

    async fn list_groups(
        &self,
        _request: Request<pb::ListGroupsRequest>,
    ) -> Result<Response<pb::ListGroupsResponse>, Status> {
        let groups = self
            .broker
            .list_groups()?
            .into_iter()
            .map(Into::into)
            .collect();
        Ok(Response::new(pb::ListGroupsResponse { groups }))
    }

    async fn describe_group(
        &self,
        request: Request<pb::DescribeGroupRequest>,
    ) -> Result<Response<pb::DescribeGroupResponse>, Status> {
        let positions = self
            .broker
            .describe_group(&request.into_inner().group)
            .await?;
        let partitions = positions.into_iter().map(Into::into).collect();
        Ok(Response::new(pb::DescribeGroupResponse { partitions }))
    }

    async fn delete_group(
        &self,
        request: Request<pb::DeleteGroupRequest>,
    ) -> Result<Response<pb::DeleteGroupResponse>, Status> {
        let request = request.into_inner();
        let removed = self
            .broker
            .delete_group(&request.group, request.dry_run)
            .await?;
        let partitions = removed.into_iter().map(Into::into).collect();
        Ok(Response::new(pb::DeleteGroupResponse { partitions }))
    }

    async fn reset_group_offsets(
        &self,
        request: Request<pb::ResetGroupOffsetsRequest>,
    ) -> Result<Response<pb::ResetGroupOffsetsResponse>, Status> {
        let request = request.into_inner();
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
