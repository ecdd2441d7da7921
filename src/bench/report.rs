//! A benchmark's measured result, printed as a table or as one JSON line.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Largest sample.
    pub max_us: f64,
    /// Number of samples.
    pub samples: u64,
}

impl Latency {
    /// Percentiles of a histogram recorded in microseconds.
    pub fn from_histogram(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        let at = |q: f64| h.value_at_quantile(q) as f64;
        Latency {
            p50_us: at(0.50),
            p90_us: at(0.90),
            p99_us: at(0.99),
            p999_us: at(0.999),
            max_us: h.max() as f64,
            samples: h.len(),
        }
    }
}

/// The outcome of one workload.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `produce`, `consume` or `e2e`.
    pub workload: String,
    /// Records moved.
    pub records: u64,
    /// Value bytes moved.
    pub payload_bytes: u64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Records per second.
    pub records_per_sec: f64,
    /// Payload megabytes (10^6 bytes) per second.
    pub mb_per_sec: f64,
    /// What the latency measures.
    pub latency_kind: String,
    /// The latency percentiles.
    pub latency: Latency,
    /// Value size, records per batch, producers, consumers, partitions.
    pub record_size: usize,
    /// Records per batch.
    pub batch: usize,
    /// Concurrent producers.
    pub producers: usize,
    /// Concurrent consumers.
    pub consumers: usize,
    /// Partitions.
    pub partitions: u32,
    /// The server's fsync policy, as given with `--fsync-note` or by `--embedded`.
    pub fsync: String,
    /// CPU used while measuring, as a percentage of one core: the server's with
    /// `--server-pid`, this process's (client, plus server when embedded) otherwise.
    pub cpu_percent: Option<f64>,
    /// Whose CPU `cpu_percent` is.
    pub cpu_of: String,
}

impl Report {
    /// Fills in the rates from the counts and the elapsed time.
    pub fn rates(mut self, elapsed: Duration) -> Report {
        self.seconds = elapsed.as_secs_f64();
        let secs = self.seconds.max(1e-9);
        self.records_per_sec = self.records as f64 / secs;
        self.mb_per_sec = self.payload_bytes as f64 / secs / 1e6;
        self
    }

    /// The human table.
    pub fn table(&self) -> String {
        let l = &self.latency;
        let cpu = self
            .cpu_percent
            .map_or("-".to_string(), |c| format!("{c:.0}% ({})", self.cpu_of));
        format!(
            "workload    {}\nrecords     {} x {} B, batch {}, producers {}, consumers {}, partitions {}\n\
             fsync       {}\nelapsed     {:.2} s\nthroughput  {:.0} records/s, {:.1} MB/s\ncpu         {}\n\
             latency     {} (us): p50 {:.0}  p90 {:.0}  p99 {:.0}  p99.9 {:.0}  max {:.0}  ({} samples)",
            self.workload,
            self.records,
            self.record_size,
            self.batch,
            self.producers,
            self.consumers,
            self.partitions,
            self.fsync,
            self.seconds,
            self.records_per_sec,
            self.mb_per_sec,
            cpu,
            self.latency_kind,
            l.p50_us,
            l.p90_us,
            l.p99_us,
            l.p999_us,
            l.max_us,
            l.samples
        )
    }

    /// One JSON line.
    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

/// A histogram of microseconds from 1 µs to 1 hour with 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static histogram bounds are valid")
}

/// Records `elapsed` in microseconds (clamped into the histogram's range).
pub fn record(h: &mut Histogram<u64>, elapsed: Duration) {
    let us = (elapsed.as_micros() as u64).clamp(1, 3_600_000_000);
    h.record(us).expect("value clamped into range");
}
