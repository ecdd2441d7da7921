//! A consumer-group member over `GroupSubscribe`: joins, heartbeats, hands out the
//! member's assignments and records, commits with its member id and generation, and
//! releases revoked partitions.
//!
//! Heartbeats are sent from [`GroupMember::next`] (and [`GroupMember::commit`]) when
//! due, not from a background task: the server then keeps the member only while the
//! application keeps asking for records, so an application that hangs loses its
//! partitions after the session timeout, like Kafka's `max.poll.interval.ms`. Handling
//! one batch must therefore take less than the session timeout.
//!
//! The server answers every heartbeat. The member counts as alive only up to a session
//! timeout after sending the last heartbeat whose answer it has read: the server heard
//! from it at that send time or later, so it cannot have removed the member before.
//! Past that (the member was paused, or the network was), [`GroupMember::next`] fails
//! with [`MemberError::LostContact`] instead of handing out more records, even records
//! already received: by then the server may have moved its partitions to another
//! member. A rejoin starts afresh. (Answers queue behind the records sent before them, so
//! a member far behind its stream may also stop; it is then safe to rejoin.)

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

use super::Client;
use super::raw_batches::{DECODED_BATCH_VERSIONS, decode_records};
use crate::proto::v1 as pb;
use crate::proto::v1::group_subscribe_request::Action;
use crate::proto::v1::group_subscribe_response::Event;

/// What a member asks for when joining.
#[derive(Debug, Clone, Default)]
pub struct MemberOptions {
    /// The group.
    pub group: String,
    /// The topics to read.
    pub topics: Vec<String>,
    /// Static membership id, if any.
    pub instance_id: Option<String>,
    /// Session timeout; the server default (10 s) when `None`.
    pub session_timeout: Option<Duration>,
    /// Assignment strategy (sticky when unspecified).
    pub strategy: pb::AssignmentStrategy,
    /// Where partitions without a commit start.
    pub reset: pb::StartPosition,
}

/// One partition of one topic, as the client sees it.
pub type Partition = (String, u32);

/// What [`GroupMember::next`] yields.
#[derive(Debug, Clone, PartialEq)]
pub enum MemberEvent {
    /// The member's partitions changed. Commit what was processed of `revoked`, then
    /// [`GroupMember::release`] them.
    Assignment {
        /// The generation to commit with.
        generation: u64,
        /// Every partition the member reads now.
        assigned: BTreeSet<Partition>,
        /// New since the last assignment.
        added: BTreeSet<Partition>,
        /// To commit and release.
        revoked: BTreeSet<Partition>,
    },
    /// Records of one partition.
    Records {
        /// The topic.
        topic: String,
        /// The records, in offset order, all of one partition.
        records: Vec<pb::StoredRecord>,
    },
}

/// A member failed.
#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    /// The server refused or ended the stream.
    #[error("{}", .0.message())]
    Status(#[from] tonic::Status),
    /// Nothing was read from the server for a session timeout: the partitions may
    /// belong to another member by now, so no more records are handed out.
    #[error("no contact with the server for {0:?}, the session timeout; rejoin")]
    LostContact(Duration),
    /// The server ended the stream without an error.
    #[error("the server ended the member's stream")]
    Ended,
}

/// A joined member.
pub struct GroupMember {
    client: Client,
    group: String,
    requests: mpsc::Sender<pb::GroupSubscribeRequest>,
    responses: Streaming<pb::GroupSubscribeResponse>,
    member_id: String,
    generation: u64,
    session_timeout: Duration,
    heartbeat_interval: Duration,
    last_heartbeat: Instant,
    /// Send times of heartbeats not answered yet, oldest first.
    unanswered: VecDeque<Instant>,
    /// Send time of the last answered heartbeat (the join at first): the server heard
    /// from the member at this time or later.
    heard_at: Instant,
}

impl GroupMember {
    /// Joins `options.group`; returns once the server accepted the member.
    pub async fn join(client: &Client, options: MemberOptions) -> Result<GroupMember, MemberError> {
        let (requests, outgoing) = mpsc::channel(16);
        // Before the join is sent: the server's session starts later than this.
        let sent = Instant::now();
        let join = pb::JoinGroup {
            group: options.group.clone(),
            topics: options.topics,
            member_instance_id: options.instance_id,
            session_timeout_ms: options
                .session_timeout
                .map_or(0, |t| t.as_millis().min(u128::from(u32::MAX)) as u32),
            strategy: options.strategy.into(),
            reset: options.reset.into(),
            max_records_per_message: 0,
            // Stored batches as bytes, decoded (CRCs checked) in `next`.
            delivery: pb::Delivery::RawBatches.into(),
            batch_versions: DECODED_BATCH_VERSIONS.to_vec(),
        };
        send(&requests, Action::Join(join)).await?;
        let mut client = client.clone();
        let mut responses = client
            .event_log
            .group_subscribe(ReceiverStream::new(outgoing))
            .await?
            .into_inner();
        let joined = match responses.message().await?.and_then(|m| m.event) {
            Some(Event::Joined(joined)) => joined,
            _ => return Err(MemberError::Ended),
        };
        Ok(GroupMember {
            client,
            group: options.group,
            requests,
            responses,
            member_id: joined.member_id,
            generation: joined.generation,
            session_timeout: Duration::from_millis(u64::from(joined.session_timeout_ms)),
            heartbeat_interval: Duration::from_millis(u64::from(
                joined.heartbeat_interval_ms.max(1),
            )),
            last_heartbeat: sent,
            unanswered: VecDeque::new(),
            heard_at: sent,
        })
    }

    /// The member id the server gave.
    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    /// The generation of the latest assignment.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The next assignment or records, heartbeating while it waits.
    pub async fn next(&mut self) -> Result<MemberEvent, MemberError> {
        loop {
            self.check_contact()?;
            self.heartbeat_if_due().await?;
            let due = self.last_heartbeat + self.heartbeat_interval;
            let message = tokio::select! {
                message = self.responses.message() => message?,
                () = tokio::time::sleep_until(due.into()) => continue,
            };
            // Checked again: the message may have waited in buffers through a pause.
            self.check_contact()?;
            match message.and_then(|m| m.event) {
                None => return Err(MemberError::Ended),
                Some(Event::Heartbeat(_)) => {
                    if let Some(sent) = self.unanswered.pop_front() {
                        self.heard_at = sent;
                    }
                }
                Some(Event::Records(r)) => {
                    let records = match r.batches {
                        Some(raw) => decode_records(raw.partition, &raw.batches, raw.from_offset)
                            .map_err(tonic::Status::from)?,
                        None => r.records,
                    };
                    if records.is_empty() {
                        continue;
                    }
                    return Ok(MemberEvent::Records {
                        topic: r.topic,
                        records,
                    });
                }
                Some(Event::Assignment(a)) => {
                    self.generation = a.generation;
                    return Ok(MemberEvent::Assignment {
                        generation: a.generation,
                        assigned: flatten(a.assigned),
                        added: flatten(a.added),
                        revoked: flatten(a.revoked),
                    });
                }
                Some(Event::Joined(_)) => {}
            }
        }
    }

    /// Commits `offsets` — (partition, next offset) pairs of `topic` — as this member.
    pub async fn commit(&mut self, topic: &str, offsets: &[(u32, u64)]) -> Result<(), MemberError> {
        // A stream that ended is reported by `next`; the server judges the commit.
        let _ = self.heartbeat_if_due().await;
        let request = pb::CommitOffsetsRequest {
            group: self.group.clone(),
            topic: topic.to_string(),
            offsets: offsets
                .iter()
                .map(|&(partition, next_offset)| pb::OffsetCommit {
                    partition,
                    next_offset,
                    metadata: String::new(),
                })
                .collect(),
            member_id: Some(self.member_id.clone()),
            generation: self.generation,
        };
        self.client.event_log.commit_offsets(request).await?;
        Ok(())
    }

    /// Gives up `partitions` (after committing what was processed of them).
    pub async fn release(&mut self, partitions: &BTreeSet<Partition>) -> Result<(), MemberError> {
        let mut by_topic: std::collections::BTreeMap<&str, Vec<u32>> = Default::default();
        for (topic, partition) in partitions {
            by_topic.entry(topic).or_default().push(*partition);
        }
        let partitions = by_topic
            .into_iter()
            .map(|(topic, partitions)| pb::TopicPartitions {
                topic: topic.to_string(),
                partitions,
            })
            .collect();
        send(
            &self.requests,
            Action::Release(pb::ReleasePartitions { partitions }),
        )
        .await?;
        Ok(())
    }

    async fn heartbeat_if_due(&mut self) -> Result<(), MemberError> {
        if self.last_heartbeat.elapsed() >= self.heartbeat_interval {
            let sent = Instant::now();
            send(&self.requests, Action::Heartbeat(pb::GroupHeartbeat {})).await?;
            self.last_heartbeat = sent;
            self.unanswered.push_back(sent);
        }
        Ok(())
    }

    /// Fails once the server may have removed the member (see the module docs).
    fn check_contact(&self) -> Result<(), MemberError> {
        if self.heard_at.elapsed() > self.session_timeout {
            return Err(MemberError::LostContact(self.session_timeout));
        }
        Ok(())
    }
}

async fn send(
    requests: &mpsc::Sender<pb::GroupSubscribeRequest>,
    action: Action,
) -> Result<(), MemberError> {
    let request = pb::GroupSubscribeRequest {
        action: Some(action),
    };
    requests.send(request).await.map_err(|_| MemberError::Ended)
}

fn flatten(topics: Vec<pb::TopicPartitions>) -> BTreeSet<Partition> {
    topics
        .into_iter()
        .flat_map(|t| {
            let topic = t.topic;
            t.partitions.into_iter().map(move |p| (topic.clone(), p))
        })
        .collect()
}
