//! A producer that places records on the client side and retries: each request names
//! its partition, so a retry can carry the same per-partition sequence number and the
//! server can recognise it.
//!
//! Why client-side placement: idempotence is tracked per (producer, partition), and a
//! request must name its partition to carry a sequence. Records are placed exactly as
//! the server would place them ([`crate::broker::partitioner`]: murmur2 of the key like
//! Kafka), so turning idempotence on or off never moves a key to another partition.
//! Keyless records go round-robin from a random partition, so that many short-lived
//! producers (one `eventlog produce` per record) still spread over all partitions.
//!
//! Why retries are safe only with idempotence: a request whose reply was lost may have
//! been appended. An idempotent retry carries the same sequence, and the server answers
//! it with the original offsets (`duplicate`) instead of appending again; a plain retry
//! appends the records a second time (at-least-once).
//!
//! When retries run out, the producer cannot know whether the last request was appended;
//! its sequence numbers are then in doubt, and records sent under them could be taken
//! for that request's duplicate and silently dropped. So the next send first takes a new
//! identity from the server (a named producer: a new epoch of its id) and numbers from 0.
//! A send its caller dropped (under a timeout, in a `select!`) while its request was out
//! is in doubt the same way, and is handled the same way.

use std::time::Duration;

use tonic::{Code, Status};

use super::Client;
use super::batch_builder::build_batch;
use crate::broker::partitioner::partition_for_key;
use crate::proto::v1 as pb;

/// Sequence numbers wrap from `i32::MAX` to 0 (as Kafka's do).
const SEQUENCE_MODULUS: u64 = 1 << 31;

/// How often and how patiently a request is retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub attempts: u32,
    /// Pause before the first retry; doubled after each retry.
    pub first_backoff: Duration,
    /// Longest pause between attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// Attempts over about nine seconds: long enough to ride out a server restart, a
    /// dropped connection or a cluster's leader election, short enough that a dead
    /// server is reported promptly. The pause stops growing at 400 ms, so a request
    /// goes through within that of the moment a new leader serves (a failover takes
    /// one election timeout or so; pauses doubling to seconds would add more than the
    /// election itself).
    fn default() -> RetryPolicy {
        RetryPolicy {
            attempts: 25,
            first_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(400),
        }
    }
}

impl RetryPolicy {
    /// The pause after failed attempt number `attempt` (1-based).
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        self.first_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// How a [`Producer`] is set up.
#[derive(Debug, Clone)]
pub struct ProducerOptions {
    /// Send producer id, epoch and sequence numbers so that retries are not appended
    /// twice (on by default).
    pub idempotent: bool,
    /// A stable producer name: a new instance with the same name fences the older one.
    pub name: Option<String>,
    /// Retries of requests that failed for a lost connection or an unavailable server.
    pub retry: RetryPolicy,
    /// Encode each request's records into a version 2 batch here (producer-built
    /// batches, on by default), so the server checks it and writes it as sent instead
    /// of encoding every record. Records without a timestamp still take the server's
    /// clock (the batch is stamped on arrival); a request mixing records with and
    /// without timestamps goes as records. Off: every request goes as records
    /// (`eventlog bench produce --per-record` measures the difference).
    pub build_batches: bool,
    /// What each acknowledgement waits for on a replicated topic: a majority of the
    /// partition's replicas (`All`, the default) or its leader alone (`Leader`: faster,
    /// but a batch acknowledged so is lost if the leader fails before a majority has
    /// it).
    pub acks: pb::Acks,
}

impl Default for ProducerOptions {
    fn default() -> ProducerOptions {
        ProducerOptions {
            idempotent: true,
            name: None,
            retry: RetryPolicy::default(),
            build_batches: true,
            acks: pb::Acks::All,
        }
    }
}

/// The identity the server gave an idempotent producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerIdentity {
    /// Producer id (never reused by the server).
    pub id: i64,
    /// Epoch of this instance; a newer instance with the same name has a higher one.
    pub epoch: u32,
}

/// Sends records to one topic, placing them on the client and retrying lost requests.
pub struct Producer {
    client: Client,
    topic: String,
    identity: Option<ProducerIdentity>,
    /// Next sequence number per partition (index = partition).
    next_sequence: Vec<u32>,
    /// Partition of the next keyless record.
    next_keyless: u32,
    retry: RetryPolicy,
    /// The producer name given to `InitProducer`, for a new identity.
    name: Option<String>,
    /// Set while a request is out, and kept when it failed without the producer learning
    /// whether it was appended (or the call was dropped before the answer): its sequence
    /// numbers may or may not be used up, so reusing them for other records could have
    /// those records taken for a duplicate and dropped. The next send first takes a new
    /// identity, whose sequences start afresh.
    outcome_unknown: bool,
    /// See [`ProducerOptions::build_batches`].
    build_batches: bool,
    /// See [`ProducerOptions::acks`].
    acks: pb::Acks,
}

impl Producer {
    /// A producer for `topic`: learns its partition count and, when idempotent, asks the
    /// server for a producer id and epoch.
    pub async fn new(
        client: Client,
        topic: &str,
        options: ProducerOptions,
    ) -> Result<Producer, Status> {
        let mut client = client;
        let retry = options.retry;
        let partitions = describe_partitions(&mut client, topic, &retry).await?;
        let identity = match options.idempotent {
            true => Some(init_producer(&mut client, options.name.clone(), &retry).await?),
            false => None,
        };
        Ok(Producer {
            client,
            topic: topic.to_string(),
            identity,
            next_sequence: vec![0; partitions as usize],
            next_keyless: random_below(partitions),
            retry,
            name: options.name,
            outcome_unknown: false,
            build_batches: options.build_batches,
            acks: options.acks,
        })
    }

    /// The producer id and epoch, when idempotent.
    pub fn identity(&self) -> Option<ProducerIdentity> {
        self.identity
    }

    /// Partitions of the topic when the producer was created.
    pub fn partitions(&self) -> u32 {
        self.next_sequence.len() as u32
    }

    /// Sends `records`, each placed by its key like the server places it (keyless ones
    /// round-robin); one request per partition. Returns one append per partition, in
    /// partition order. On an error, the partitions before the failing one were
    /// written.
    pub async fn send(
        &mut self,
        records: Vec<pb::Record>,
    ) -> Result<Vec<pb::PartitionAppend>, Status> {
        let mut by_partition: Vec<Vec<pb::Record>> = vec![Vec::new(); self.next_sequence.len()];
        for record in records {
            let partition = self.place(record.key.as_deref());
            by_partition[partition as usize].push(record);
        }
        let mut appends = Vec::new();
        for (partition, records) in by_partition.into_iter().enumerate() {
            if !records.is_empty() {
                appends.push(self.send_to(partition as u32, records).await?);
            }
        }
        Ok(appends)
    }

    /// The partition of a record with `key`.
    fn place(&mut self, key: Option<&[u8]>) -> u32 {
        let partitions = self.partitions();
        match key {
            Some(key) => partition_for_key(key, partitions),
            None => {
                let partition = self.next_keyless;
                self.next_keyless = (partition + 1) % partitions;
                partition
            }
        }
    }

    /// Sends `records` to `partition`, retrying the same request (same sequence) after
    /// a lost connection or an unavailable server; a duplicate reply counts as success.
    pub async fn send_to(
        &mut self,
        partition: u32,
        records: Vec<pb::Record>,
    ) -> Result<pb::PartitionAppend, Status> {
        let Some(sequence) = self.next_sequence.get(partition as usize).copied() else {
            // The server's own words for this mistake.
            return Err(Status::not_found(format!(
                "topic {} has no partition {partition} (it has {})",
                self.topic,
                self.partitions()
            )));
        };
        let sequence = match self.outcome_unknown {
            true => {
                self.renew_identity().await?;
                0
            }
            false => sequence,
        };
        let count = records.len() as u64;
        let mut request = pb::ProduceRequest {
            topic: self.topic.clone(),
            partition: Some(partition),
            records,
            expected_next_offset: None,
            producer_id: self.identity.map(|i| i.id),
            producer_epoch: self.identity.map_or(0, |i| i.epoch),
            base_sequence: sequence,
            batch: Default::default(),
            acks: self.acks.into(),
        };
        let producer = self.identity.map(|i| (i.id, i.epoch, sequence));
        if self.build_batches
            && let Some(batch) = build_batch(&request.records, producer)?
        {
            request.batch = batch;
            request.records = Vec::new();
            request.producer_id = None;
        }
        // In doubt until an answer arrives: a caller that drops this call (a timeout, a
        // `select!`) after the request left may have had it appended, so the next send
        // must not reuse its sequence for other records.
        self.outcome_unknown = self.identity.is_some();
        let client = &self.client;
        let reply = with_retries(&self.retry, || {
            let (mut client, request) = (client.clone(), request.clone());
            async move { client.event_log.produce(request).await }
        })
        .await
        .map_err(|status| {
            // Given up on a lost request, or out of step with the server's sequences.
            let unknown = is_retriable(&status) || status.code() == Code::OutOfRange;
            self.outcome_unknown = self.identity.is_some() && unknown;
            match is_retriable(&status) {
                true => gave_up(status, self.retry.attempts),
                false => status,
            }
        })?;
        self.outcome_unknown = false;
        self.next_sequence[partition as usize] = next_sequence(sequence, count);
        reply
            .into_inner()
            .partitions
            .into_iter()
            .find(|append| append.partition == partition)
            .ok_or_else(|| Status::internal(format!("the reply names no partition {partition}")))
    }
}

impl Producer {
    /// Takes a new identity from the server (a new id, or for a named producer a new
    /// epoch of its id) and starts every partition's sequence at 0 again.
    async fn renew_identity(&mut self) -> Result<(), Status> {
        let identity = init_producer(&mut self.client, self.name.clone(), &self.retry).await?;
        self.identity = Some(identity);
        self.next_sequence.fill(0);
        self.outcome_unknown = false;
        Ok(())
    }
}

/// `status` of the last attempt, saying that the records may have been stored anyway.
fn gave_up(status: Status, attempts: u32) -> Status {
    let message = format!(
        "{} (gave up after {} attempts; the records may or may not have been stored)",
        status.message(),
        attempts.max(1)
    );
    Status::with_metadata(status.code(), message, status.metadata().clone())
}

/// A number in `0..bound` that differs between processes (std's per-process random
/// hash keys; placement needs spread, not unpredictability).
fn random_below(bound: u32) -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (random % u64::from(bound.max(1))) as u32
}

/// The sequence number after `count` records starting at `sequence`.
fn next_sequence(sequence: u32, count: u64) -> u32 {
    ((u64::from(sequence) + count) % SEQUENCE_MODULUS) as u32
}

/// The partition count of `topic`.
async fn describe_partitions(
    client: &mut Client,
    topic: &str,
    retry: &RetryPolicy,
) -> Result<u32, Status> {
    let request = pb::DescribeTopicRequest {
        name: topic.to_string(),
    };
    let reply = with_retries(retry, || {
        let (mut client, request) = (client.clone(), request.clone());
        async move { client.admin.describe_topic(request).await }
    })
    .await?;
    reply
        .into_inner()
        .topic
        .map(|t| t.partitions)
        .filter(|&p| p > 0)
        .ok_or_else(|| Status::internal(format!("the server did not describe topic {topic}")))
}

/// A producer id and epoch from the server. A retry after a lost reply may cost an id
/// (anonymous) or an epoch (named): both are harmless, ids are plentiful and the older
/// epoch was ours.
async fn init_producer(
    client: &mut Client,
    name: Option<String>,
    retry: &RetryPolicy,
) -> Result<ProducerIdentity, Status> {
    let request = pb::InitProducerRequest {
        producer_name: name,
    };
    let reply = with_retries(retry, || {
        let (mut client, request) = (client.clone(), request.clone());
        async move { client.event_log.init_producer(request).await }
    })
    .await?
    .into_inner();
    Ok(ProducerIdentity {
        id: reply.producer_id,
        epoch: reply.producer_epoch,
    })
}

/// Runs `call` until it succeeds, fails for a reason a retry cannot fix, or the
/// attempts run out (then the last error is returned).
async fn with_retries<T, F, Fut>(retry: &RetryPolicy, mut call: F) -> Result<T, Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    let attempts = retry.attempts.max(1);
    let mut attempt = 1;
    loop {
        match call().await {
            Ok(reply) => return Ok(reply),
            Err(status) if attempt < attempts && is_retriable(&status) => {
                tracing::debug!(attempt, %status, "retrying");
                tokio::time::sleep(retry.backoff(attempt)).await;
                attempt += 1;
            }
            Err(status) => return Err(status),
        }
    }
}

/// Whether a retry may succeed: the server is unavailable or slow, or the connection
/// failed. A status made on this side from a transport error carries that error as its
/// source, while statuses the server sends have none; so a local UNKNOWN, INTERNAL or
/// CANCELLED status means the connection was lost (the channel reconnects on the next
/// call), not that the server refused the request.
pub fn is_retriable(status: &Status) -> bool {
    match status.code() {
        Code::Unavailable | Code::DeadlineExceeded => true,
        Code::Unknown | Code::Internal | Code::Cancelled => {
            std::error::Error::source(status).is_some()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_wrap_after_i32_max() {
        assert_eq!(next_sequence(0, 5), 5);
        assert_eq!(next_sequence(i32::MAX as u32, 1), 0);
        assert_eq!(next_sequence(i32::MAX as u32 - 1, 3), 1);
    }

    #[test]
    fn backoff_doubles_up_to_its_bound() {
        let policy = RetryPolicy {
            attempts: 5,
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
        };
        let pauses: Vec<u128> = (1..=4).map(|a| policy.backoff(a).as_millis()).collect();
        assert_eq!(pauses, [100, 200, 350, 350]);
    }

    #[test]
    fn only_unavailability_and_lost_connections_are_retried() {
        assert!(is_retriable(&Status::unavailable("restarting")));
        assert!(is_retriable(&Status::deadline_exceeded("slow")));
        assert!(!is_retriable(&Status::failed_precondition("fenced")));
        assert!(!is_retriable(&Status::out_of_range("gap")));
        // The server's own UNKNOWN carries no transport error.
        assert!(!is_retriable(&Status::unknown("server said so")));
        let lost = Status::from_error(Box::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )));
        assert_eq!(lost.code(), Code::Unknown);
        assert!(is_retriable(&lost));
    }

    #[test]
    fn a_given_up_request_says_its_outcome_is_unknown() {
        let status = gave_up(Status::unavailable("connection refused"), 10);
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(
            status.message(),
            "connection refused (gave up after 10 attempts; the records may or may not have been stored)"
        );
    }

    #[tokio::test]
    async fn retries_stop_after_the_last_attempt() {
        let policy = RetryPolicy {
            attempts: 3,
            first_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(1),
        };
        let mut calls = 0;
        let result: Result<(), Status> = with_retries(&policy, || {
            calls += 1;
            async { Err(Status::unavailable("down")) }
        })
        .await;
        assert_eq!(result.unwrap_err().code(), Code::Unavailable);
        assert_eq!(calls, 3);
        let mut calls = 0;
        let result: Result<(), Status> = with_retries(&policy, || {
            calls += 1;
            async { Err(Status::not_found("no topic")) }
        })
        .await;
        assert_eq!(result.unwrap_err().code(), Code::NotFound);
        assert_eq!(calls, 1);
    }
}
