//! `bench produce`: producers send batches to explicit partitions as fast as the
//! server acknowledges them; the latency is each batch's acknowledgement time. Each
//! producer is a [`Producer`], idempotent unless the workload says otherwise, so the
//! cost of idempotence can be measured by running both ways.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::report::{new_histogram, record};
use super::{BenchError, Measured, Workload, payload_records, progress_bar};
use crate::client::Client;
use crate::client::producer::{Producer, ProducerOptions};

/// Runs the produce workload.
pub async fn run(client: &Client, w: &Workload) -> Result<Measured, BenchError> {
    let claimed = Arc::new(AtomicU64::new(0));
    let bar = progress_bar(w.records, w.progress, "produce");
    // Producer ids are handed out before the clock starts: only sending is measured.
    let mut producers = Vec::new();
    for _ in 0..w.producers {
        let options = ProducerOptions {
            idempotent: w.idempotent,
            build_batches: w.build_batches,
            acks: w.acks,
            ..ProducerOptions::default()
        };
        let producer = Producer::new(client.clone(), &w.topic, options)
            .await
            .map_err(BenchError::rpc("starting a producer"))?;
        producers.push(producer);
    }
    let start = Instant::now();
    let deadline = start + w.duration;
    let mut tasks = Vec::new();
    for (producer, mut sender) in producers.into_iter().enumerate() {
        let (w, claimed, bar) = (w.clone(), claimed.clone(), bar.clone());
        tasks.push(tokio::spawn(async move {
            let records = payload_records(w.batch, w.record_size);
            let mut hist = new_histogram();
            let mut sent = 0u64;
            for round in 0u64.. {
                let first = claimed.fetch_add(w.batch as u64, Ordering::Relaxed);
                if first >= w.records || Instant::now() >= deadline {
                    break;
                }
                let n = (w.records - first).min(w.batch as u64) as usize;
                let partition = ((producer as u64 + round) % u64::from(w.partitions)) as u32;
                let t0 = Instant::now();
                sender
                    .send_to(partition, records[..n].to_vec())
                    .await
                    .map_err(BenchError::rpc("produce"))?;
                record(&mut hist, t0.elapsed());
                sent += n as u64;
                bar.inc(n as u64);
            }
            Ok::<_, BenchError>((hist, sent))
        }));
    }
    let mut latency = new_histogram();
    let mut records = 0;
    for task in tasks {
        let (hist, sent) = task
            .await
            .map_err(|e| BenchError::Invalid(format!("producer task: {e}")))??;
        latency
            .add(&hist)
            .map_err(|e| BenchError::Invalid(e.to_string()))?;
        records += sent;
    }
    let elapsed = start.elapsed();
    bar.finish_and_clear();
    Ok(Measured {
        records,
        payload_bytes: records * w.record_size as u64,
        elapsed,
        latency,
        latency_kind: "batch acknowledgement",
    })
}
