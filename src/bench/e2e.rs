//! `bench e2e`: producers send at a fixed total rate while one subscriber follows the
//! topic's live end; each record carries its send time, so the latency is the time
//! from handing a record to the client library to receiving it on the subscription.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use tokio_stream::StreamExt;

use super::report::{new_histogram, record};
use super::{BenchError, Measured, Workload, progress_bar};
use crate::client::Client;
use crate::proto::v1 as pb;

/// Runs the end-to-end latency workload.
pub async fn run(client: &Client, w: &Workload) -> Result<Measured, BenchError> {
    if w.rate == 0 {
        return Err(BenchError::Invalid(
            "--rate must be at least 1 record per second".into(),
        ));
    }
    let epoch = Instant::now();
    let request = pb::SubscribeRequest {
        topic: w.topic.clone(),
        start: Some(pb::subscribe_request::Start::Position(
            pb::StartPosition::Latest as i32,
        )),
        ..Default::default()
    };
    let mut stream = super::subscribe(client, request).await?;
    // Wait until the subscription stands at the live end before sending anything.
    loop {
        match stream.next().await {
            Some(Ok(message)) if message.caught_up => break,
            Some(Ok(_)) => {}
            Some(Err(status)) => return Err(BenchError::rpc("subscribe")(status)),
            None => {
                return Err(BenchError::Invalid(
                    "subscription ended before it caught up".into(),
                ));
            }
        }
    }
    let bar = progress_bar(w.records, w.progress, "e2e");
    let start = Instant::now();
    let deadline = start + w.duration;
    let stop = Arc::new(tokio::sync::Notify::new());
    let producers: Vec<_> = (0..w.producers)
        .map(|p| {
            tokio::spawn(produce_at_rate(
                client.clone(),
                w.clone(),
                p,
                epoch,
                deadline,
                stop.clone(),
            ))
        })
        .collect();
    let mut latency = new_histogram();
    let mut received = 0u64;
    while received < w.records {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let message = match tokio::time::timeout(remaining, stream.next()).await {
            Ok(Some(Ok(message))) => message,
            Ok(Some(Err(status))) => return Err(BenchError::rpc("subscribe")(status)),
            Ok(None) | Err(_) => break,
        };
        let now = epoch.elapsed();
        for r in &message.records {
            if let Some(sent) = r.value.as_ref().and_then(|v| v.get(..8)) {
                let sent =
                    Duration::from_nanos(u64::from_le_bytes(sent.try_into().expect("8 bytes")));
                record(&mut latency, now.saturating_sub(sent));
            }
        }
        received += message.records.len() as u64;
        bar.inc(message.records.len() as u64);
    }
    let elapsed = start.elapsed();
    stop.notify_waiters();
    for p in producers {
        p.await
            .map_err(|e| BenchError::Invalid(format!("producer task: {e}")))??;
    }
    bar.finish_and_clear();
    Ok(Measured {
        records: received,
        payload_bytes: received * w.record_size as u64,
        elapsed,
        latency,
        latency_kind: "produce to consume",
    })
}

/// Sends batches at this producer's share of the rate until stopped or past the deadline.
async fn produce_at_rate(
    mut client: Client,
    w: Workload,
    producer: usize,
    epoch: Instant,
    deadline: Instant,
    stop: Arc<tokio::sync::Notify>,
) -> Result<(), BenchError> {
    let per_producer = (w.rate as f64 / w.producers as f64).max(1e-3);
    let every = Duration::from_secs_f64(w.batch as f64 / per_producer);
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let quota = w.records.div_ceil(w.producers as u64);
    let mut sent = 0u64;
    for round in 0u64.. {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.notified() => return Ok(()),
        }
        if sent >= quota || Instant::now() >= deadline {
            return Ok(());
        }
        let n = (quota - sent).min(w.batch as u64) as usize;
        let stamp = epoch.elapsed().as_nanos() as u64;
        let mut value = BytesMut::with_capacity(w.record_size);
        value.put_u64_le(stamp);
        value.resize(w.record_size, b'x');
        let value: Bytes = value.freeze();
        let records = (0..n)
            .map(|_| pb::Record {
                value: Some(value.clone()),
                ..Default::default()
            })
            .collect();
        let partition = ((producer as u64 + round) % u64::from(w.partitions)) as u32;
        let request = pb::ProduceRequest {
            topic: w.topic.clone(),
            partition: Some(partition),
            records,
            ..Default::default()
        };
        client
            .event_log
            .produce(request)
            .await
            .map_err(BenchError::rpc("produce"))?;
        sent += n as u64;
    }
    Ok(())
}
