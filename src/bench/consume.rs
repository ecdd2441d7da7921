//! `bench consume`: consumers replay the topic from its earliest offsets with `Fetch`,
//! up to the end the topic had when the run started (or `--records`); the latency is
//! each fetch's round trip. Raw batches by default (every record decoded and every
//! batch's CRC checked here), or one message per record with `--per-record`. With
//! `--subscribe`, through subscriptions instead ([`super::consume_stream`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::report::{new_histogram, record};
use super::{BenchError, Measured, Workload, progress_bar};
use crate::client::Client;
use crate::client::raw_batches::{DECODED_BATCH_VERSIONS, for_each_record};
use crate::proto::v1 as pb;

/// Runs the consume workload.
pub async fn run(client: &Client, w: &Workload) -> Result<Measured, BenchError> {
    let offsets = client
        .event_log
        .clone()
        .list_offsets(pb::ListOffsetsRequest {
            topic: w.topic.clone(),
            ..Default::default()
        })
        .await
        .map_err(BenchError::rpc("listing offsets"))?
        .into_inner()
        .partitions;
    let available: u64 = offsets
        .iter()
        .map(|p| p.latest_offset - p.earliest_offset)
        .sum();
    if available == 0 {
        return Err(BenchError::Invalid(format!(
            "topic {} holds no records; run `bench produce` first",
            w.topic
        )));
    }
    let target = w.records.min(available);
    let bar = progress_bar(target, w.progress, "consume");
    if w.subscribe {
        return super::consume_stream::run(client, w, &offsets, target, bar).await;
    }
    let consumed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + w.duration;
    let mut tasks = Vec::new();
    for consumer in 0..w.consumers {
        let mine = share(&offsets, consumer, w.consumers);
        let (mut client, w, consumed, bar) =
            (client.clone(), w.clone(), consumed.clone(), bar.clone());
        tasks.push(tokio::spawn(async move {
            let mut hist = new_histogram();
            let (mut records, mut bytes) = (0u64, 0u64);
            for p in mine {
                let mut offset = p.earliest_offset;
                while offset < p.latest_offset
                    && consumed.load(Ordering::Relaxed) < target
                    && Instant::now() < deadline
                {
                    let request = pb::FetchRequest {
                        topic: w.topic.clone(),
                        partition: p.partition,
                        offset,
                        max_records: w.batch as u32,
                        max_bytes: (w.batch * (w.record_size + 64)).max(1 << 20) as u32,
                        max_wait_ms: 0,
                        delivery: delivery(&w).into(),
                        batch_versions: DECODED_BATCH_VERSIONS.to_vec(),
                    };
                    let t0 = Instant::now();
                    let response = client
                        .event_log
                        .fetch(request)
                        .await
                        .map_err(BenchError::rpc("fetch"))?
                        .into_inner();
                    record(&mut hist, t0.elapsed());
                    let (n, b) = count(&response, offset)?;
                    bytes += b;
                    records += n;
                    consumed.fetch_add(n, Ordering::Relaxed);
                    bar.inc(n);
                    if n == 0 {
                        break;
                    }
                    offset = response.next_offset;
                }
            }
            Ok::<_, BenchError>((hist, records, bytes))
        }));
    }
    let mut latency = new_histogram();
    let (mut records, mut payload_bytes) = (0, 0);
    for task in tasks {
        let (hist, n, b) = task
            .await
            .map_err(|e| BenchError::Invalid(format!("consumer task: {e}")))??;
        latency
            .add(&hist)
            .map_err(|e| BenchError::Invalid(e.to_string()))?;
        records += n;
        payload_bytes += b;
    }
    let elapsed = start.elapsed();
    bar.finish_and_clear();
    Ok(Measured {
        records,
        payload_bytes,
        elapsed,
        latency,
        latency_kind: "fetch round trip",
    })
}

/// The partitions consumer number `consumer` of `consumers` replays: every
/// `consumers`-th, from its own.
pub(super) fn share(
    offsets: &[pb::PartitionOffsets],
    consumer: usize,
    consumers: usize,
) -> Vec<pb::PartitionOffsets> {
    offsets
        .iter()
        .skip(consumer)
        .step_by(consumers)
        .cloned()
        .collect()
}

/// How records come back: raw batches unless `--per-record`.
pub(super) fn delivery(w: &Workload) -> pb::Delivery {
    match w.per_record {
        true => pb::Delivery::Records,
        false => pb::Delivery::RawBatches,
    }
}

/// Records (at or after `from`) and value bytes of a fetch reply; raw batches are
/// decoded record by record with their CRCs checked.
fn count(response: &pb::FetchResponse, from: u64) -> Result<(u64, u64), BenchError> {
    if response.batches.is_empty() {
        let values = response
            .records
            .iter()
            .map(|r| r.value.as_ref().map_or(0, |v| v.len() as u64))
            .sum();
        return Ok((response.records.len() as u64, values));
    }
    let mut values = 0u64;
    let records = for_each_record(&response.batches, from, |_, record| {
        values += record.value.map_or(0, |v| v.len() as u64);
    })
    .map_err(|e| BenchError::Invalid(e.to_string()))?;
    Ok((records, values))
}
