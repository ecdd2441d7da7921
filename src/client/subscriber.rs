//! A subscription that survives the loss of the node serving it: when the stream fails
//! in a way a retry can cure (the node went away, a leader is being elected), it
//! subscribes again through the client's other addresses, each partition from the
//! offset after the last record it handed out, so the application sees every record
//! once and in order per partition.
//!
//! The first subscription is the caller's request as given (tried again, like a
//! resume, while it fails in a way a retry can cure). A resumed one is one
//! stream per partition (a stream over every partition can only start each from the
//! same position): a partition that delivered records resumes after the last one, the
//! others start as the original request said.
//!
//! [`Subscriber::next`] is cancel-safe: callers wait on it under a timeout or in a
//! `select!`. Everything a resume has done so far is kept in the subscriber (the
//! partitions still to open, when to try again, since when it has been failing), so a
//! call dropped halfway through opening streams is continued by the next call rather
//! than leaving a partition with no stream, silently never delivered again.

use std::collections::{BTreeMap, VecDeque};
use std::pin::Pin;
use std::time::{Duration, Instant};

use tokio_stream::{Stream, StreamExt, StreamMap};
use tonic::{Code, Status};

use super::Client;
use super::raw_batches::decode_records;
use crate::proto::v1 as pb;
use crate::proto::v1::subscribe_request::Start;

/// How long a subscription keeps trying to resume before it reports the failure.
pub const RESUME_FOR: Duration = Duration::from_secs(30);

/// How long opening one stream may take before the attempt counts as failed and is
/// made again. A node answers a subscription request in milliseconds; one that took
/// the request and never answered (it was starting, paused, or the answer was lost
/// with its connection) would otherwise hold the resume up until the connection's
/// keep-alive gave up, tens of seconds later, while other nodes could serve it.
pub const OPEN_WITHIN: Duration = Duration::from_secs(5);

type Responses = Pin<Box<dyn Stream<Item = Result<pb::SubscribeResponse, Status>> + Send>>;

/// A resuming subscription.
pub struct Subscriber {
    client: Client,
    request: pb::SubscribeRequest,
    /// Per partition: the offset after the last record handed out.
    next: BTreeMap<u32, u64>,
    streams: StreamMap<u32, Responses>,
    /// Partitions (keys of `streams`) that reported being caught up since the last
    /// (re)subscription; a caught-up marker is handed out once all did.
    caught_up: BTreeMap<u32, bool>,
    caught_up_sent: bool,
    /// Set while the streams must be opened again (see [`Resume`]).
    resume: Option<Resume>,
    /// Since when no message has arrived while streams fail.
    failing_since: Option<Instant>,
    /// Since when the streams have been open (none while a resume is under way).
    up_since: Option<Instant>,
}

/// A resume under way; kept across calls so that a cancelled call loses nothing.
#[derive(Default)]
struct Resume {
    /// Not before this instant (a pause between attempts).
    not_before: Option<tokio::time::Instant>,
    /// Partitions still to open, once listed.
    to_open: Option<VecDeque<u32>>,
}

/// Whether a failed stream is worth subscribing again for.
fn retryable(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable | Code::Unknown | Code::Cancelled | Code::DeadlineExceeded
    )
}

impl Subscriber {
    /// Subscribes with `request` (`auto_commit_interval_ms` is not supported: commits
    /// belong to the application here).
    pub async fn subscribe(
        client: Client,
        request: pb::SubscribeRequest,
    ) -> Result<Subscriber, Status> {
        if request.auto_commit_interval_ms.is_some() {
            return Err(Status::invalid_argument(
                "a resuming subscription commits nothing by itself; commit with CommitOffsets",
            ));
        }
        let mut subscriber = Subscriber {
            client,
            request,
            next: BTreeMap::new(),
            streams: StreamMap::new(),
            caught_up: BTreeMap::new(),
            caught_up_sent: false,
            resume: None,
            failing_since: None,
            up_since: Some(Instant::now()),
        };
        let first = subscriber.open_first().await?;
        // Key: the partition, or u32::MAX for a stream over every partition.
        let key = subscriber.request.partition.unwrap_or(u32::MAX);
        subscriber.streams.insert(key, first);
        subscriber.caught_up.insert(key, false);
        Ok(subscriber)
    }

    /// Opens the caller's request as given, trying again for up to [`RESUME_FOR`] while
    /// it fails in a way a retry can cure: requests are spread over the client's
    /// addresses, so the first may go to a node that is down while others serve.
    async fn open_first(&mut self) -> Result<Responses, Status> {
        let started = Instant::now();
        loop {
            match self.open(self.request.clone()).await {
                Err(status) if retryable(&status) && started.elapsed() < RESUME_FOR => {
                    tracing::debug!(%status, "subscribing failed; trying again");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                other => return other,
            }
        }
    }

    /// Opens a stream; its end (a node shutting down ends streams) reads as an error,
    /// so that the partitions it served are subscribed again.
    async fn open(&mut self, request: pb::SubscribeRequest) -> Result<Responses, Status> {
        let opening = self.client.event_log.subscribe(request);
        let stream = tokio::time::timeout(OPEN_WITHIN, opening)
            .await
            .map_err(|_| {
                Status::deadline_exceeded(format!(
                    "the server did not answer the subscription request within {OPEN_WITHIN:?}"
                ))
            })??
            .into_inner();
        let ended = tokio_stream::once(Err(Status::unavailable(
            "the server ended the subscription",
        )));
        Ok(Box::pin(stream.chain(ended)))
    }

    /// The next message: records (in offset order per partition, none handed out
    /// twice), or the caught-up marker once every partition has caught up.
    /// Cancel-safe (see the module docs).
    pub async fn next(&mut self) -> Result<pb::SubscribeResponse, Status> {
        loop {
            if self.resume.is_some() {
                match self.resubscribe().await {
                    Ok(()) => {
                        self.resume = None;
                        self.up_since = Some(Instant::now());
                    }
                    Err(status) => {
                        tracing::debug!(%status, "subscribing again failed");
                        self.failed(status)?;
                    }
                }
                continue;
            }
            let failure = match self.streams.next().await {
                Some((key, Ok(message))) => {
                    self.failing_since = None;
                    if let Some(message) = self.accept(key, message)? {
                        return Ok(message);
                    }
                    continue;
                }
                Some((_, Err(status))) if retryable(&status) => status,
                Some((_, Err(status))) => return Err(status),
                None => Status::unavailable("no stream is open"),
            };
            tracing::debug!(%failure, "subscription lost; subscribing again");
            self.failed(failure)?;
        }
    }

    /// Starts a resume after `failure` (after a pause, every partition listed again),
    /// or reports it once the subscription has been failing for [`RESUME_FOR`].
    fn failed(&mut self, failure: Status) -> Result<(), Status> {
        // Streams that stayed open for a while (on a quiet topic, with no message to
        // end the last failing period) failing again start a new period, or a
        // subscription idle since an earlier failover would give up at the next one.
        if self
            .up_since
            .take()
            .is_some_and(|up| up.elapsed() > RESUME_FOR)
        {
            self.failing_since = None;
        }
        let since = *self.failing_since.get_or_insert_with(Instant::now);
        if since.elapsed() > RESUME_FOR {
            return Err(failure);
        }
        self.streams.clear();
        self.caught_up.clear();
        self.resume = Some(Resume {
            not_before: Some(tokio::time::Instant::now() + Duration::from_millis(200)),
            to_open: None,
        });
        Ok(())
    }

    /// Keeps what `message` holds past each partition's position, decoding raw
    /// batches (and checking their CRCs) into records.
    fn accept(
        &mut self,
        key: u32,
        message: pb::SubscribeResponse,
    ) -> Result<Option<pb::SubscribeResponse>, Status> {
        if message.caught_up {
            self.caught_up.insert(key, true);
            if !self.caught_up_sent && self.caught_up.values().all(|c| *c) {
                self.caught_up_sent = true;
                return Ok(Some(message));
            }
            return Ok(None);
        }
        let received = match message.batches {
            Some(raw) => {
                let next = self.next.get(&raw.partition).copied().unwrap_or(0);
                decode_records(raw.partition, &raw.batches, next.max(raw.from_offset))?
            }
            None => message.records,
        };
        let records: Vec<pb::StoredRecord> = received
            .into_iter()
            .filter(|r| r.offset >= self.next.get(&r.partition).copied().unwrap_or(0))
            .collect();
        for record in &records {
            self.next.insert(record.partition, record.offset + 1);
        }
        Ok((!records.is_empty()).then_some(pb::SubscribeResponse {
            records,
            caught_up: false,
            batches: None,
        }))
    }

    /// One stream per partition, each from where it left off, continuing the resume
    /// under way: a partition leaves the list only once its stream is in place.
    async fn resubscribe(&mut self) -> Result<(), Status> {
        let resume = self.resume.get_or_insert_with(Resume::default);
        let (pause, listed) = (resume.not_before, resume.to_open.is_some());
        // An instant already passed (a call cut short after it) does not wait again.
        if let Some(at) = pause {
            tokio::time::sleep_until(at).await;
        }
        if !listed {
            let partitions = self.partitions().await?;
            self.resume.get_or_insert_with(Resume::default).to_open = Some(partitions);
        }
        while let Some(partition) = self.next_to_open() {
            let mut request = self.request.clone();
            request.partition = Some(partition);
            if let Some(next) = self.next.get(&partition) {
                request.start = Some(Start::Offset(*next));
            }
            let stream = self.open(request).await?;
            self.streams.insert(partition, stream);
            self.caught_up.insert(partition, self.caught_up_sent);
            if let Some(to_open) = self.resume.as_mut().and_then(|r| r.to_open.as_mut()) {
                to_open.pop_front();
            }
        }
        Ok(())
    }

    /// The first partition the resume under way has not opened yet.
    fn next_to_open(&self) -> Option<u32> {
        self.resume
            .as_ref()
            .and_then(|r| r.to_open.as_ref())
            .and_then(|to_open| to_open.front().copied())
    }

    /// The partitions the subscription covers: the one it names, or every partition of
    /// its topic.
    async fn partitions(&mut self) -> Result<VecDeque<u32>, Status> {
        if let Some(p) = self.request.partition {
            return Ok(VecDeque::from([p]));
        }
        let described = self
            .client
            .admin
            .describe_topic(pb::DescribeTopicRequest {
                name: self.request.topic.clone(),
            })
            .await?
            .into_inner();
        Ok((0..described.partitions.len() as u32).collect())
    }
}
