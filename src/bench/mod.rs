//! The load generator behind `eventlog bench`: real gRPC clients (the same as any
//! user's) producing, replaying, or measuring produce-to-consume latency, bounded by a
//! record count and by time. Results come from hdrhistogram histograms and are printed
//! as a table or as one JSON line.
//!
//! # Layout
//! - [`produce`], [`consume`], [`e2e`]: one workload per file.
//! - [`report`]: the measured result, its table and JSON forms.
//! - [`embedded`]: a server on a temporary directory, for one-command measurements.
//! - [`cpu`]: process CPU time from `/proc`, reported next to throughput.

pub mod consume;
pub mod consume_stream;
pub mod cpu;
pub mod e2e;
pub mod embedded;
pub mod produce;
pub mod report;

use std::time::Duration;

use bytes::Bytes;
use indicatif::{ProgressBar, ProgressStyle};

use crate::client::Client;
use crate::proto::v1 as pb;

/// What every workload is told.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Topic to use (created with `partitions` partitions if missing).
    pub topic: String,
    /// Records to produce or consume in all.
    pub records: u64,
    /// Value size of each record in bytes.
    pub record_size: usize,
    /// Records per produce request (and most records per fetch).
    pub batch: usize,
    /// Concurrent producers.
    pub producers: usize,
    /// Concurrent consumers.
    pub consumers: usize,
    /// Partitions of the topic.
    pub partitions: u32,
    /// Upper bound on the run time.
    pub duration: Duration,
    /// For `e2e`: records per second to produce, in all.
    pub rate: u64,
    /// Show a progress bar (on a terminal only).
    pub progress: bool,
    /// Produce idempotently (producer id and sequence numbers on every request).
    pub idempotent: bool,
    /// Consume with one protobuf message per record instead of raw batches.
    pub per_record: bool,
    /// Consume through one `Subscribe` stream per partition instead of one `Fetch` at
    /// a time.
    pub subscribe: bool,
    /// Produce producer-built batches (encoded here, written as sent).
    pub build_batches: bool,
    /// What each produce's acknowledgement waits for on a replicated topic.
    pub acks: crate::proto::v1::Acks,
}

/// A benchmark failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A call to the server failed.
    #[error("{what}: {status}")]
    Rpc {
        /// What was being done.
        what: &'static str,
        /// The server's answer.
        status: Box<tonic::Status>,
    },
    /// The workload's parameters do not make sense.
    #[error("invalid benchmark parameters: {0}")]
    Invalid(String),
    /// Starting the embedded server failed.
    #[error("embedded server: {0}")]
    Embedded(String),
}

impl BenchError {
    fn rpc(what: &'static str) -> impl FnOnce(tonic::Status) -> BenchError {
        move |status| BenchError::Rpc {
            what,
            status: Box::new(status),
        }
    }
}

impl Workload {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), BenchError> {
        let bad = |what: &str| Err(BenchError::Invalid(what.to_string()));
        if self.records == 0 {
            return bad("--records must be at least 1");
        }
        if self.batch == 0 || self.producers == 0 || self.consumers == 0 || self.partitions == 0 {
            return bad("--batch, --producers, --consumers and --partitions must be at least 1");
        }
        if self.record_size < 8 {
            return bad("--record-size must be at least 8 bytes (e2e stamps the send time in it)");
        }
        Ok(())
    }
}

/// What a workload measured, before it is dressed up as a [`report::Report`].
pub struct Measured {
    /// Records moved.
    pub records: u64,
    /// Value bytes moved.
    pub payload_bytes: u64,
    /// Wall time of the measured phase.
    pub elapsed: Duration,
    /// Latency samples in microseconds.
    pub latency: hdrhistogram::Histogram<u64>,
    /// What the latency measures.
    pub latency_kind: &'static str,
}

/// Opens a subscription.
pub async fn subscribe(
    client: &Client,
    request: pb::SubscribeRequest,
) -> Result<tonic::Streaming<pb::SubscribeResponse>, BenchError> {
    Ok(client
        .event_log
        .clone()
        .subscribe(request)
        .await
        .map_err(BenchError::rpc("subscribe"))?
        .into_inner())
}

/// Creates the topic if it does not exist yet.
pub async fn ensure_topic(
    client: &mut Client,
    topic: &str,
    partitions: u32,
) -> Result<(), BenchError> {
    // Look first: a producer or consumer token may describe topics but not create them.
    let described = client
        .admin
        .describe_topic(pb::DescribeTopicRequest {
            name: topic.to_string(),
        })
        .await;
    match described {
        Ok(_) => return Ok(()),
        Err(status) if status.code() == tonic::Code::NotFound => {}
        Err(status) => return Err(BenchError::rpc("describing the topic")(status)),
    }
    let request = pb::CreateTopicRequest {
        name: topic.to_string(),
        partitions,
        ..Default::default()
    };
    match client.admin.create_topic(request).await {
        Ok(_) => Ok(()),
        Err(status) if status.code() == tonic::Code::AlreadyExists => Ok(()),
        Err(status) => Err(BenchError::rpc("creating the topic")(status)),
    }
}

/// `n` records of `size` bytes each, sharing one payload buffer (no per-record copy).
pub fn payload_records(n: usize, size: usize) -> Vec<pb::Record> {
    let value = Bytes::from(vec![b'x'; size]);
    (0..n)
        .map(|_| pb::Record {
            value: Some(value.clone()),
            ..Default::default()
        })
        .collect()
}

/// A progress bar counting records, hidden when stderr is not a terminal.
pub fn progress_bar(total: u64, show: bool, what: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    let template = format!("{what} {{bar:40}} {{pos}}/{{len}} records {{per_sec}} ({{elapsed}})");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}
