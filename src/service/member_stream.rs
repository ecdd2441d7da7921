//! The server side of one `GroupSubscribe` stream: a joined member's task.
//!
//! The task waits on four things at once: the member's requests (heartbeats,
//! releases; the stream's end is the member's disconnect), its view from the
//! coordinator (a new assignment or its removal), a timer that expires silent members
//! of its group, and, when there is room in the response queue, the next records of
//! the partitions it delivers. Records are read only after a queue slot is reserved,
//! so a member that stops reading holds one reserved slot and nothing more, while the
//! task still sees its view change and ends when the member is removed. Assignment
//! messages go out before any further records, so the member learns that a partition
//! is revoked before records of the partitions it gains arrive, and never receives a
//! revoked partition's records after the revocation.
//!
//! On a new assignment the subscriptions of the affected topics are rebuilt: kept
//! partitions continue at the task's own position, gained ones start at the group's
//! committed offset, which their previous owner wrote before releasing them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

use super::convert::stored_to_wire;
use super::member_convert::{MemberJoin, assignment_to_wire, release_from_wire};
use super::raw_delivery::subscribe_batches_to_wire;
use super::rpc_metrics::stream_ended;
use super::subscribe::STREAM_BUFFER;
use super::subscription_slots::SubscriptionSlot;
use crate::broker::membership::{GroupMember, MemberView, TopicPartition};
use crate::broker::{Broker, BrokerError, NoCommitStart, Subscription, SubscriptionEvent};
use crate::proto::v1 as pb;
use crate::proto::v1::event_log_server::SERVICE_NAME;
use crate::proto::v1::group_subscribe_request::Action;
use crate::proto::v1::group_subscribe_response::Event;
use crate::storage::ReadLimits;
use crate::telemetry::traffic::{self, OpenStream, Via};

/// The response stream of `GroupSubscribe`.
pub type GroupSubscribeStream = ReceiverStream<Result<pb::GroupSubscribeResponse, Status>>;

/// Longest wait for the join message after the stream opened.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(30);

type Sender = mpsc::Sender<Result<pb::GroupSubscribeResponse, Status>>;

/// Reads the first message of the stream, which must be a join.
pub async fn read_join(
    inbound: &mut Streaming<pb::GroupSubscribeRequest>,
) -> Result<pb::JoinGroup, Status> {
    let first = tokio::time::timeout(JOIN_TIMEOUT, inbound.message())
        .await
        .map_err(|_| {
            Status::deadline_exceeded(format!("no join message within {JOIN_TIMEOUT:?}"))
        })??;
    match first.and_then(|m| m.action) {
        Some(Action::Join(join)) => Ok(join),
        _ => Err(Status::invalid_argument(
            "the first message of GroupSubscribe must be a join",
        )),
    }
}

/// Joins the group and spawns the member's task; returns the stream it feeds.
pub fn start(
    broker: Arc<Broker>,
    join: MemberJoin,
    inbound: Streaming<pb::GroupSubscribeRequest>,
    slot: SubscriptionSlot,
    raw: bool,
) -> Result<GroupSubscribeStream, Status> {
    let member = broker.join_group(join.join)?;
    let (sender, receiver) = mpsc::channel(STREAM_BUFFER);
    let session = member.session_timeout();
    let joined = pb::GroupSubscribeResponse {
        event: Some(Event::Joined(pb::GroupJoined {
            member_id: member.id().to_string(),
            generation: member.view_now().generation,
            session_timeout_ms: session.as_millis() as u32,
            heartbeat_interval_ms: (session / 3).as_millis() as u32,
        })),
    };
    let task = MemberTask {
        broker,
        member,
        no_commit: join.no_commit,
        chunk: join.chunk,
        raw,
        subscriptions: BTreeMap::new(),
        delivering: BTreeSet::new(),
        revoking: BTreeSet::new(),
        outbox: VecDeque::from([joined]),
    };
    tokio::spawn(async move {
        let _open = OpenStream::open();
        let ended = task.run(inbound, &sender).await;
        if let Err(status) = ended {
            stream_ended(SERVICE_NAME, "GroupSubscribe", status.code());
            // A member that stopped reading may never see it; the stream ends anyway.
            let _ = sender.try_send(Err(status));
        }
        drop(slot);
    });
    Ok(ReceiverStream::new(receiver))
}

/// One member's stream state.
struct MemberTask {
    broker: Arc<Broker>,
    member: GroupMember,
    no_commit: NoCommitStart,
    chunk: ReadLimits,
    /// Whether records go out as raw batches.
    raw: bool,
    /// A subscription per topic with delivered partitions.
    subscriptions: BTreeMap<String, Subscription>,
    /// Partitions whose records this stream sends.
    delivering: BTreeSet<TopicPartition>,
    /// Partitions the member was last told to release.
    revoking: BTreeSet<TopicPartition>,
    /// Control messages to send before any further records.
    outbox: VecDeque<pb::GroupSubscribeResponse>,
}

impl MemberTask {
    /// Runs until the member disconnects (`Ok`) or the stream fails (the status).
    async fn run(
        mut self,
        mut inbound: Streaming<pb::GroupSubscribeRequest>,
        sender: &Sender,
    ) -> Result<(), Status> {
        let initial = self.member.view().borrow_and_update().clone();
        self.apply(initial).await?;
        let mut expiry = tokio::time::interval(self.member.session_timeout() / 5);
        expiry.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut permit = None;
        // A member without partitions reads nothing that would end at shutdown.
        let shutdown = self.broker.shutdown_token().clone();
        loop {
            if permit.is_some()
                && let Some(message) = self.outbox.pop_front()
                && let Some(p) = permit.take()
            {
                mpsc::Permit::send(p, Ok(message));
                continue;
            }
            let want_slot =
                permit.is_none() && (!self.outbox.is_empty() || !self.subscriptions.is_empty());
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return Err(BrokerError::ShuttingDown.into()),
                request = inbound.message() => match request {
                    Ok(Some(request)) => self.handle(request)?,
                    // The member closed its side or its connection is gone.
                    Ok(None) | Err(_) => return Ok(()),
                },
                changed = self.member.view().changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    let view = self.member.view().borrow_and_update().clone();
                    self.apply(view).await?;
                }
                _ = expiry.tick() => self.member.expire_sessions(),
                reserved = sender.reserve(), if want_slot => match reserved {
                    Ok(p) => permit = Some(p),
                    Err(_) => return Ok(()),
                },
                () = sender.closed(), if permit.is_some() => return Ok(()),
                event = next_event(&mut self.subscriptions), if permit.is_some() => {
                    let (topic, event) = event;
                    if let Some(message) = records_message(topic, event?)
                        && let Some(p) = permit.take()
                    {
                        p.send(Ok(message));
                    }
                }
            }
        }
    }

    /// A request from the member; each one also counts as a heartbeat.
    fn handle(&mut self, request: pb::GroupSubscribeRequest) -> Result<(), Status> {
        match request.action {
            Some(Action::Heartbeat(_)) => {
                self.member.heartbeat()?;
                self.outbox.push_back(pb::GroupSubscribeResponse {
                    event: Some(Event::Heartbeat(pb::GroupHeartbeat {})),
                });
            }
            Some(Action::Release(release)) => {
                self.member.release(&release_from_wire(release))?;
            }
            Some(Action::Join(_)) => {
                return Err(Status::invalid_argument(
                    "a GroupSubscribe stream joins once; open a new stream to join again",
                ));
            }
            None => self.member.heartbeat()?,
        }
        Ok(())
    }

    /// Switches delivery to `view` and queues the assignment message; ends the stream
    /// when the member was removed.
    async fn apply(&mut self, view: MemberView) -> Result<(), Status> {
        if let Some(why) = view.expelled {
            return Err(Status::from(BrokerError::from(
                crate::broker::membership::MembershipError::UnknownMember {
                    group: self.member.group().to_string(),
                    member: format!("{} ({why})", self.member.id()),
                    generation: view.generation,
                },
            )));
        }
        let added: BTreeSet<TopicPartition> = view
            .assigned
            .difference(&self.delivering)
            .cloned()
            .collect();
        let dropped: BTreeSet<TopicPartition> = self
            .delivering
            .difference(&view.assigned)
            .cloned()
            .collect();
        let topics: BTreeSet<String> = added
            .iter()
            .chain(&dropped)
            .map(|tp| tp.topic.clone())
            .collect();
        for topic in topics {
            self.resubscribe(&topic, &view.assigned).await?;
        }
        let revoked: BTreeSet<TopicPartition> =
            view.revoking.difference(&self.revoking).cloned().collect();
        self.delivering = view.assigned.clone();
        self.revoking = view.revoking;
        self.outbox.push_back(assignment_to_wire(
            view.generation,
            &view.assigned,
            &added,
            &revoked,
        ));
        Ok(())
    }

    /// Rebuilds `topic`'s subscription for its partitions in `assigned`.
    async fn resubscribe(
        &mut self,
        topic: &str,
        assigned: &BTreeSet<TopicPartition>,
    ) -> Result<(), Status> {
        let positions: BTreeMap<u32, u64> = self
            .subscriptions
            .remove(topic)
            .map(|s| s.positions().into_iter().collect())
            .unwrap_or_default();
        let partitions: Vec<(u32, Option<u64>)> = assigned
            .iter()
            .filter(|tp| tp.topic == topic)
            .map(|tp| {
                let kept = self.delivering.contains(tp);
                (
                    tp.partition,
                    positions.get(&tp.partition).copied().filter(|_| kept),
                )
            })
            .collect();
        if partitions.is_empty() {
            return Ok(());
        }
        let mut subscription = self
            .broker
            .subscribe_member(
                self.member.group(),
                topic,
                partitions,
                self.no_commit,
                self.chunk,
            )
            .await?;
        if self.raw {
            subscription.deliver_raw();
        }
        self.subscriptions.insert(topic.to_string(), subscription);
        Ok(())
    }
}

/// The next event of any topic's subscription (pending forever without one).
async fn next_event(
    subscriptions: &mut BTreeMap<String, Subscription>,
) -> (String, Result<SubscriptionEvent, BrokerError>) {
    if subscriptions.is_empty() {
        return std::future::pending().await;
    }
    // `Subscription::next` is cancel-safe, so the losers may be dropped mid-read.
    let nexts = subscriptions
        .iter_mut()
        .map(|(topic, s)| Box::pin(async move { (topic.clone(), s.next().await) }));
    futures_util::future::select_all(nexts).await.0
}

/// The member's message for a subscription event: records, or raw batches.
fn records_message(topic: String, event: SubscriptionEvent) -> Option<pb::GroupSubscribeResponse> {
    let records = match event {
        SubscriptionEvent::Records { partition, records } => {
            traffic::delivered(&topic, Via::Subscribe, &records);
            let records = records
                .into_iter()
                .map(|r| stored_to_wire(partition, r))
                .collect();
            pb::GroupRecords {
                topic,
                records,
                batches: None,
            }
        }
        SubscriptionEvent::Batches {
            partition,
            from,
            read,
        } => {
            traffic::delivered_batches(&topic, Via::Subscribe, &read);
            let raw = subscribe_batches_to_wire(partition, from, read).batches;
            pb::GroupRecords {
                topic,
                records: Vec::new(),
                batches: raw,
            }
        }
        SubscriptionEvent::CaughtUp => return None,
    };
    Some(pb::GroupSubscribeResponse {
        event: Some(Event::Records(records)),
    })
}
