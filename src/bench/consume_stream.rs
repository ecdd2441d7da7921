//! `bench consume --subscribe`: consumers replay the topic from its earliest offsets
//! through one `Subscribe` stream per partition, in messages of at most `--batch`
//! records, up to the end the topic had when the run started (or `--records`).
//!
//! This is how an application replays history with the client library: the server
//! reads and sends the next message while the client decodes the last one, where
//! `Fetch` waits a round trip between requests. Raw batches by default (every record
//! decoded and every batch's CRC checked here), or one message per record with
//! `--per-record`. The latency is the time between consecutive messages.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use indicatif::ProgressBar;

use super::report::{new_histogram, record};
use super::{BenchError, Measured, Workload};
use crate::client::Client;
use crate::client::raw_batches::{DECODED_BATCH_VERSIONS, for_each_record};
use crate::proto::v1 as pb;
use crate::proto::v1::subscribe_request::Start;

/// Runs the consume workload through subscriptions: `offsets` are the partitions to
/// replay (earliest to latest), `target` the records to consume in all.
pub async fn run(
    client: &Client,
    w: &Workload,
    offsets: &[pb::PartitionOffsets],
    target: u64,
    bar: ProgressBar,
) -> Result<Measured, BenchError> {
    let consumed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for consumer in 0..w.consumers {
        let mine = super::consume::share(offsets, consumer, w.consumers);
        let (client, w, consumed, bar) = (client.clone(), w.clone(), consumed.clone(), bar.clone());
        tasks.push(tokio::spawn(async move {
            let mut totals = Totals::default();
            for p in mine {
                replay(&client, &w, &p, target, &consumed, &bar, &mut totals).await?;
            }
            Ok::<_, BenchError>(totals)
        }));
    }
    let mut latency = new_histogram();
    let (mut records, mut payload_bytes) = (0, 0);
    for task in tasks {
        let totals = task
            .await
            .map_err(|e| BenchError::Invalid(format!("consumer task: {e}")))??;
        latency
            .add(&totals.gaps)
            .map_err(|e| BenchError::Invalid(e.to_string()))?;
        records += totals.records;
        payload_bytes += totals.bytes;
    }
    let elapsed = start.elapsed();
    bar.finish_and_clear();
    Ok(Measured {
        records,
        payload_bytes,
        elapsed,
        latency,
        latency_kind: "time between messages",
    })
}

/// What one consumer counted.
struct Totals {
    gaps: hdrhistogram::Histogram<u64>,
    records: u64,
    bytes: u64,
}

impl Default for Totals {
    fn default() -> Totals {
        Totals {
            gaps: new_histogram(),
            records: 0,
            bytes: 0,
        }
    }
}

/// Replays one partition from its earliest to its latest offset (as listed at the
/// start), or until `consumed` reaches `target` or the run's time is up.
async fn replay(
    client: &Client,
    w: &Workload,
    p: &pb::PartitionOffsets,
    target: u64,
    consumed: &AtomicU64,
    bar: &ProgressBar,
    totals: &mut Totals,
) -> Result<(), BenchError> {
    let deadline = Instant::now() + w.duration;
    let request = pb::SubscribeRequest {
        topic: w.topic.clone(),
        partition: Some(p.partition),
        start: Some(Start::Offset(p.earliest_offset)),
        max_records_per_message: w.batch as u32,
        delivery: super::consume::delivery(w).into(),
        batch_versions: DECODED_BATCH_VERSIONS.to_vec(),
        ..Default::default()
    };
    let mut stream = super::subscribe(client, request).await?;
    let mut offset = p.earliest_offset;
    let mut last = Instant::now();
    while offset < p.latest_offset
        && consumed.load(Ordering::Relaxed) < target
        && Instant::now() < deadline
    {
        let Some(message) = stream
            .message()
            .await
            .map_err(BenchError::rpc("subscription"))?
        else {
            return Err(BenchError::Invalid(format!(
                "the subscription of partition {} ended at offset {offset}",
                p.partition
            )));
        };
        record(&mut totals.gaps, last.elapsed());
        last = Instant::now();
        let (n, b, next) = count(&message, offset)?;
        totals.records += n;
        totals.bytes += b;
        consumed.fetch_add(n, Ordering::Relaxed);
        bar.inc(n);
        offset = next;
    }
    Ok(())
}

/// Records (at or after `from`) and value bytes of one message, and the offset the
/// stream continues at; raw batches are decoded record by record with their CRCs
/// checked.
fn count(message: &pb::SubscribeResponse, from: u64) -> Result<(u64, u64, u64), BenchError> {
    if let Some(raw) = &message.batches {
        let mut values = 0u64;
        let records = for_each_record(&raw.batches, from, |_, record| {
            values += record.value.map_or(0, |v| v.len() as u64);
        })
        .map_err(|e| BenchError::Invalid(e.to_string()))?;
        return Ok((records, values, raw.next_offset));
    }
    let values = message
        .records
        .iter()
        .map(|r| r.value.as_ref().map_or(0, |v| v.len() as u64))
        .sum();
    let next = message.records.last().map_or(from, |r| r.offset + 1);
    Ok((message.records.len() as u64, values, next))
}
