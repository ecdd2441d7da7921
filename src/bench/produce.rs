//! `bench produce`: producers send batches to explicit partitions as fast as the
//! server acknowledges them; the latency is each batch's acknowledgement time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::report::{new_histogram, record};
use super::{BenchError, Measured, Workload, payload_records, progress_bar};
use crate::client::Client;
use crate::proto::v1 as pb;

/// Runs the produce workload.
pub async fn run(client: &Client, w: &Workload) -> Result<Measured, BenchError> {
    let claimed = Arc::new(AtomicU64::new(0));
    let bar = progress_bar(w.records, w.progress, "produce");
    let start = Instant::now();
    let deadline = start + w.duration;
    let mut tasks = Vec::new();
    for producer in 0..w.producers {
        let (mut client, w, claimed, bar) =
            (client.clone(), w.clone(), claimed.clone(), bar.clone());
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
                let request = pb::ProduceRequest {
                    topic: w.topic.clone(),
                    partition: Some(partition),
                    records: records[..n].to_vec(),
                    ..Default::default()
                };
                let t0 = Instant::now();
                client
                    .event_log
                    .produce(request)
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
