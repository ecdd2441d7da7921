//! The `eventlog.v1.EventLog` service: produce, fetch, subscribe, list offsets, the
//! consumer-group commits, and group members' streams.

use std::sync::Arc;

use tonic::{Request, Response, Status, Streaming};

use super::auto_commit::AutoCommit;
use super::convert::{self, SubscribeFrom, now_ms, record_from_wire};
use super::group_forward::{self, Route, peer_of};
use super::member_convert;
use super::member_stream::{self, GroupSubscribeStream};
use super::raw_delivery;
use super::scope::Scope;
use super::subscribe::{SubscribeStream, stream_subscription};
use super::subscription_slots::SubscriptionSlots;
use crate::broker::Broker;
use crate::proto::v1 as pb;
use crate::proto::v1::event_log_server::EventLog;
use crate::storage::producer_state::ProducerBatch;
use crate::telemetry::traffic::{self, BatchSize, Via};

/// Serves `EventLog` over a shared [`Broker`].
#[derive(Clone)]
pub struct EventLogService {
    broker: Arc<Broker>,
    /// Shared by every connection: the cap on open subscriptions.
    subscriptions: SubscriptionSlots,
}

impl EventLogService {
    /// A service answering from `broker`.
    pub fn new(broker: Arc<Broker>) -> Self {
        EventLogService {
            broker,
            subscriptions: SubscriptionSlots::default(),
        }
    }
}

#[tonic::async_trait]
impl EventLog for EventLogService {
    async fn produce(
        &self,
        request: Request<pb::ProduceRequest>,
    ) -> Result<Response<pb::ProduceResponse>, Status> {
        let scope = Scope::of(&request)?;
        let request = request.into_inner();
        scope.check_topic(&request.topic)?;
        let acks = convert::acks_from_wire(request.acks)?;
        if !request.batch.is_empty() {
            let (partition, expected) = batch_target(&request)?;
            let appended = self
                .broker
                .produce_batch(&request.topic, partition, request.batch, expected, acks)
                .await?;
            return Ok(Response::new(pb::ProduceResponse {
                partitions: vec![appended.into()],
            }));
        }
        let producer = producer_of(&request)?;
        let now = now_ms();
        let records: Vec<_> = request
            .records
            .into_iter()
            .map(|r| record_from_wire(r, now))
            .collect();
        let size = BatchSize::of(&records);
        let appended = match producer {
            Some((partition, producer)) => vec![
                self.broker
                    .produce_idempotent(
                        &request.topic,
                        partition,
                        records,
                        producer,
                        request.expected_next_offset,
                        acks,
                    )
                    .await?,
            ],
            None => {
                self.broker
                    .produce(
                        &request.topic,
                        request.partition,
                        records,
                        request.expected_next_offset,
                        acks,
                    )
                    .await?
            }
        };
        traffic::produced(&request.topic, size);
        let partitions = appended.into_iter().map(Into::into).collect();
        Ok(Response::new(pb::ProduceResponse { partitions }))
    }

    async fn init_producer(
        &self,
        request: Request<pb::InitProducerRequest>,
    ) -> Result<Response<pb::InitProducerResponse>, Status> {
        let scope = Scope::of(&request)?;
        let request = request.into_inner();
        if let Some(name) = &request.producer_name {
            scope.check_producer(name)?;
        }
        let identity = self
            .broker
            .init_producer(request.producer_name.as_deref())
            .await?;
        Ok(Response::new(pb::InitProducerResponse {
            producer_id: identity.producer_id,
            producer_epoch: identity.epoch as u32,
        }))
    }

    async fn fetch(
        &self,
        request: Request<pb::FetchRequest>,
    ) -> Result<Response<pb::FetchResponse>, Status> {
        let scope = Scope::of(&request)?;
        let request = request.into_inner();
        scope.check_topic(&request.topic)?;
        let (topic, partition) = (request.topic.clone(), request.partition);
        if raw_delivery::wants_raw(request.delivery, &request.batch_versions)? {
            let read = self.broker.fetch_raw(request.into()).await?;
            traffic::delivered_batches(&topic, Via::Fetch, &read);
            return Ok(Response::new(raw_delivery::fetch_batches_to_wire(read)));
        }
        let outcome = self.broker.fetch(request.into()).await?;
        traffic::delivered(&topic, Via::Fetch, &outcome.records);
        Ok(Response::new(convert::fetch_to_wire(partition, outcome)))
    }

    type SubscribeStream = SubscribeStream;

    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<SubscribeStream>, Status> {
        let scope = Scope::of(&request)?;
        let request = request.into_inner();
        scope.check_topic(&request.topic)?;
        let (start, chunk) = convert::subscribe_start(&request)?;
        let raw = raw_delivery::wants_raw(request.delivery, &request.batch_versions)?;
        if let SubscribeFrom::Group(group) = &start {
            scope.check_group(&group.group)?;
        }
        // Taken before any work; held by the stream until it ends.
        let slot = self.subscriptions.take()?;
        let (subscription, auto_commit) = match start {
            SubscribeFrom::Position(start) => {
                let subscription = self
                    .broker
                    .subscribe(&request.topic, request.partition, start, chunk)
                    .await?;
                (subscription, None)
            }
            SubscribeFrom::Group(group) => {
                let subscription = self
                    .broker
                    .subscribe_group(
                        &request.topic,
                        request.partition,
                        &group.group,
                        group.no_commit,
                        chunk,
                    )
                    .await?;
                let auto_commit = group.auto_commit.map(|interval| {
                    AutoCommit::new(
                        Arc::clone(&self.broker),
                        group.group,
                        request.topic,
                        interval,
                        subscription.positions(),
                    )
                });
                (subscription, auto_commit)
            }
        };
        let mut subscription = subscription;
        if raw {
            subscription.deliver_raw();
        }
        Ok(Response::new(stream_subscription(
            subscription,
            auto_commit,
            slot,
        )))
    }

    type GroupSubscribeStream = GroupSubscribeStream;

    async fn group_subscribe(
        &self,
        request: Request<Streaming<pb::GroupSubscribeRequest>>,
    ) -> Result<Response<GroupSubscribeStream>, Status> {
        let scope = Scope::of(&request)?;
        let client = peer_of(&request);
        let metadata = request.metadata().clone();
        let mut inbound = request.into_inner();
        let join = member_stream::read_join(&mut inbound).await?;
        scope.check_group(&join.group)?;
        for topic in &join.topics {
            scope.check_topic(topic)?;
        }
        if let Route::Coordinator(channel) = group_forward::route(&self.broker, &metadata)? {
            let slot = self.subscriptions.take()?;
            let stream =
                group_forward::group_subscribe(channel, &metadata, &client, join, inbound, slot)
                    .await?;
            return Ok(Response::new(stream));
        }
        let raw = raw_delivery::wants_raw(join.delivery, &join.batch_versions)?;
        let join = member_convert::join_from_wire(join, client)?;
        let slot = self.subscriptions.take()?;
        let stream = member_stream::start(Arc::clone(&self.broker), join, inbound, slot, raw)?;
        Ok(Response::new(stream))
    }

    async fn list_offsets(
        &self,
        request: Request<pb::ListOffsetsRequest>,
    ) -> Result<Response<pb::ListOffsetsResponse>, Status> {
        let scope = Scope::of(&request)?;
        let request = request.into_inner();
        scope.check_topic(&request.topic)?;
        let offsets = self
            .broker
            .list_offsets(&request.topic, request.partition, request.timestamp_ms)
            .await?;
        let partitions = offsets.into_iter().map(Into::into).collect();
        Ok(Response::new(pb::ListOffsetsResponse { partitions }))
    }

    async fn commit_offsets(
        &self,
        request: Request<pb::CommitOffsetsRequest>,
    ) -> Result<Response<pb::CommitOffsetsResponse>, Status> {
        let scope = Scope::of(&request)?;
        let metadata = request.metadata().clone();
        let client = peer_of(&request);
        let request = request.into_inner();
        scope.check_group(&request.group)?;
        scope.check_topic(&request.topic)?;
        if let Route::Coordinator(channel) = group_forward::route(&self.broker, &metadata)? {
            return group_forward::commit_offsets(channel, &metadata, &client, request).await;
        }
        let entries = request.offsets.into_iter().map(Into::into).collect();
        let fence = request.member_id.map(|id| (id, request.generation));
        let stored = self
            .broker
            .commit_fenced(&request.group, &request.topic, entries, fence)
            .await?;
        let partitions = stored.into_iter().map(Into::into).collect();
        Ok(Response::new(pb::CommitOffsetsResponse { partitions }))
    }

    async fn get_committed_offsets(
        &self,
        request: Request<pb::GetCommittedOffsetsRequest>,
    ) -> Result<Response<pb::GetCommittedOffsetsResponse>, Status> {
        let scope = Scope::of(&request)?;
        let metadata = request.metadata().clone();
        let client = peer_of(&request);
        let request = request.into_inner();
        scope.check_group(&request.group)?;
        scope.check_topic(&request.topic)?;
        // Read where commits are made, so a client reads its own commit back.
        if let Route::Coordinator(channel) = group_forward::route(&self.broker, &metadata)? {
            return group_forward::get_committed_offsets(channel, &metadata, &client, request)
                .await;
        }
        let positions = self
            .broker
            .committed_offsets(&request.group, &request.topic)
            .await?;
        let partitions = positions.into_iter().map(Into::into).collect();
        Ok(Response::new(pb::GetCommittedOffsetsResponse {
            partitions,
        }))
    }
}

/// The partition and producer fields of an idempotent produce, `None` for a plain one.
fn producer_of(request: &pb::ProduceRequest) -> Result<Option<(u32, ProducerBatch)>, Status> {
    let Some(producer_id) = request.producer_id else {
        return Ok(None);
    };
    let invalid = |what: String| Err(Status::invalid_argument(what));
    let Some(partition) = request.partition else {
        return invalid(format!(
            "producer_id {producer_id} needs a partition: an idempotent producer places its records itself"
        ));
    };
    if producer_id < 0 {
        return invalid(format!("producer_id {producer_id} is negative"));
    }
    let Ok(epoch) = i16::try_from(request.producer_epoch) else {
        return invalid(format!(
            "producer_epoch {} exceeds {}",
            request.producer_epoch,
            i16::MAX
        ));
    };
    let Ok(base_sequence) = i32::try_from(request.base_sequence) else {
        return invalid(format!(
            "base_sequence {} exceeds {}",
            request.base_sequence,
            i32::MAX
        ));
    };
    Ok(Some((
        partition,
        ProducerBatch {
            producer_id,
            epoch,
            base_sequence,
        },
    )))
}

/// The partition and expected next offset of a produce carrying a producer-built batch,
/// refusing fields that do not go with one.
fn batch_target(request: &pb::ProduceRequest) -> Result<(u32, Option<u64>), Status> {
    let Some(partition) = request.partition else {
        return Err(Status::invalid_argument(
            "a produce with a batch needs a partition: the client placed its records",
        ));
    };
    if !request.records.is_empty() {
        return Err(Status::invalid_argument(
            "a produce carries either records or a batch, not both",
        ));
    }
    if request.producer_id.is_some() {
        return Err(Status::invalid_argument(
            "with a batch, the producer id, epoch and base sequence go in the batch header, not in producer_id",
        ));
    }
    Ok((partition, request.expected_next_offset))
}
