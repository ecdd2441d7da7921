//! `eventlog bench produce|consume|e2e`: the load generator (see [`crate::bench`]).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};

use super::acks::AcksArg;
use super::parse::{parse_duration, parse_size};
use crate::bench::embedded::EmbeddedServer;
use crate::bench::report::{Latency, Report};
use crate::bench::{Measured, Workload, consume, cpu, e2e, ensure_topic, produce};
use crate::client::{Client, ConnectError, ConnectOptions};
use crate::storage::FsyncPolicy;

/// Which workload to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Producers send batches as fast as they are acknowledged.
    Produce,
    /// Consumers replay the topic from its earliest offsets.
    Consume,
    /// Producers send at `--rate` while a subscriber measures produce-to-consume latency.
    E2e,
}

/// Arguments of `bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The workload.
    #[arg(value_enum)]
    pub kind: Kind,
    /// Topic to use; created (with `--partitions`) if missing.
    #[arg(long, env = "EVENTLOG_BENCH_TOPIC", default_value = "bench")]
    pub topic: String,
    /// Records in all (consume: at most the records the topic holds).
    #[arg(long, env = "EVENTLOG_BENCH_RECORDS", default_value_t = 1_000_000)]
    pub records: u64,
    /// Value size of each record, in bytes.
    #[arg(long, env = "EVENTLOG_BENCH_RECORD_SIZE", default_value = "100", value_parser = parse_size)]
    pub record_size: u64,
    /// Records per produce request, and most records per fetch.
    #[arg(long, env = "EVENTLOG_BENCH_BATCH", default_value_t = 1000)]
    pub batch: usize,
    /// Concurrent producers.
    #[arg(long, env = "EVENTLOG_BENCH_PRODUCERS", default_value_t = 1)]
    pub producers: usize,
    /// Concurrent consumers.
    #[arg(long, env = "EVENTLOG_BENCH_CONSUMERS", default_value_t = 1)]
    pub consumers: usize,
    /// Partitions of the topic when it is created.
    #[arg(long, env = "EVENTLOG_BENCH_PARTITIONS", default_value_t = 1)]
    pub partitions: u32,
    /// Stop after this long even if not all records were moved (e.g. 60s).
    #[arg(long, env = "EVENTLOG_BENCH_DURATION", default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,
    /// e2e only: total records per second to produce.
    #[arg(long, env = "EVENTLOG_BENCH_RATE", default_value_t = 10_000)]
    pub rate: u64,
    /// The server's fsync policy, to print with the results (set by `--embedded`).
    #[arg(long, env = "EVENTLOG_BENCH_FSYNC_NOTE")]
    pub fsync_note: Option<String>,
    /// Start a server inside this process on a temporary directory and measure it.
    #[arg(long)]
    pub embedded: bool,
    /// With `--embedded`: the server's fsync policy.
    #[arg(long, default_value = "always")]
    pub fsync: FsyncPolicy,
    /// With `--embedded`: segment size of the topic.
    #[arg(long, default_value = "1GiB", value_parser = parse_size)]
    pub segment_bytes: u64,
    /// With `--embedded` and `consume`: produce `--records` records first (not measured).
    #[arg(long)]
    pub prefill: bool,
    /// Process id of the server, to report its CPU use next to the throughput.
    #[arg(long, env = "EVENTLOG_BENCH_SERVER_PID")]
    pub server_pid: Option<u32>,
    /// Token and TLS settings (ignored with `--embedded`).
    #[command(flatten)]
    pub connect: super::connect::ConnectArgs,
    /// Address of the server, or several cluster nodes separated by commas (ignored
    /// with `--embedded`).
    #[arg(
        long,
        env = "EVENTLOG_SERVER",
        default_value = "http://127.0.0.1:50051"
    )]
    pub server: String,
    /// Print one JSON line instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Produce with plain requests instead of idempotent ones (to measure the cost of
    /// idempotence, or against a server without it).
    #[arg(long)]
    pub no_idempotence: bool,
    /// The per-record paths instead of batches: consume with one protobuf message per
    /// record instead of raw batches, produce records for the server to encode instead
    /// of producer-built batches (the defaults).
    #[arg(long)]
    pub per_record: bool,
    /// Consume through one subscription per partition (the server sends the next
    /// message of `--batch` records while this client decodes the last) instead of
    /// one fetch of `--batch` records at a time.
    #[arg(long)]
    pub subscribe: bool,
    /// On a replicated topic, what each produce's acknowledgement waits for: a
    /// majority of the replicas (all) or the partition leader alone (leader).
    #[arg(long, value_enum, default_value_t = AcksArg::All)]
    pub acks: AcksArg,
}

impl BenchArgs {
    /// Whether the workload runs on one thread: a single consumer fetching against a
    /// server elsewhere is one call at a time, and on one thread its hops (the fetching
    /// task, the channel's buffer task, the connection task) are queue pushes instead
    /// of cross-thread wake-ups (measured: about 7 context switches per fetch of 1000
    /// records on the multi-threaded runtime, 2 on one thread; `docs/benchmarks.md`).
    /// Subscriptions keep the multi-threaded runtime, where the connection receives
    /// the next message while the last is decoded; `--embedded` needs it for the
    /// server.
    pub fn one_thread(&self) -> bool {
        self.kind == Kind::Consume && self.consumers == 1 && !self.subscribe && !self.embedded
    }
}

/// Runs the benchmark and prints its report.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let workload = Workload {
        topic: args.topic.clone(),
        records: args.records,
        record_size: usize::try_from(args.record_size)?,
        batch: args.batch,
        producers: args.producers,
        consumers: args.consumers,
        partitions: args.partitions,
        duration: args.duration,
        rate: args.rate,
        progress: std::io::stderr().is_terminal(),
        idempotent: !args.no_idempotence,
        per_record: args.per_record,
        subscribe: args.subscribe,
        build_batches: !args.per_record,
        acks: args.acks.into(),
    };
    workload.validate()?;
    let embedded = match args.embedded {
        true => Some(EmbeddedServer::start(args.fsync, args.segment_bytes).await?),
        false => None,
    };
    let (url, options) = match &embedded {
        Some(e) => (e.url.clone(), ConnectOptions::default()),
        None => (args.server.clone(), args.connect.options()?),
    };
    let mut client = connect(&url, &options).await?;
    ensure_topic(&mut client, &workload.topic, workload.partitions).await?;
    if args.prefill && args.kind == Kind::Consume {
        produce::run(
            &client,
            &Workload {
                progress: false,
                ..workload.clone()
            },
        )
        .await?;
    }
    let cpu_before = cpu::cpu_time(args.server_pid);
    let started = Instant::now();
    let measured = match args.kind {
        Kind::Produce => produce::run(&client, &workload).await?,
        Kind::Consume => consume::run(&client, &workload).await?,
        Kind::E2e => e2e::run(&client, &workload).await?,
    };
    let cpu_used = cpu::cpu_time(args.server_pid)
        .zip(cpu_before)
        .map(|(a, b)| a.saturating_sub(b));
    let wall = started.elapsed();
    let fsync = match (&args.fsync_note, args.embedded) {
        (Some(note), _) => note.clone(),
        (None, true) => args.fsync.to_string(),
        (None, false) => "unknown (pass --fsync-note)".to_string(),
    };
    let report = report(
        args.kind,
        &workload,
        measured,
        fsync,
        cpu_used.map(|c| c.as_secs_f64() / wall.as_secs_f64() * 100.0),
        &args,
    );
    if let Some(server) = embedded {
        server.stop().await?;
    }
    println!(
        "{}",
        if args.json {
            report.json()
        } else {
            report.table()
        }
    );
    Ok(())
}

async fn connect(url: &str, options: &ConnectOptions) -> anyhow::Result<Client> {
    // An embedded server may still be opening its directory: retry briefly.
    let mut last = None;
    for _ in 0..50 {
        match Client::connect_with(url, options).await {
            Ok(client) => return Ok(client),
            // Only a refused or failed connection can change; a bad address, TLS
            // setting or token cannot, so it is reported at once.
            Err(e @ ConnectError::Connect { .. }) => last = Some(e),
            Err(e) => return Err(e.into()),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(last.expect("at least one attempt").into())
}

fn report(
    kind: Kind,
    w: &Workload,
    m: Measured,
    fsync: String,
    cpu_percent: Option<f64>,
    args: &BenchArgs,
) -> Report {
    let cpu_of = match (args.server_pid, args.embedded) {
        (Some(pid), _) => format!("server pid {pid}"),
        (None, true) => "client and embedded server".to_string(),
        (None, false) => "client".to_string(),
    };
    Report {
        workload: format!("{kind:?}").to_lowercase(),
        records: m.records,
        payload_bytes: m.payload_bytes,
        seconds: 0.0,
        records_per_sec: 0.0,
        mb_per_sec: 0.0,
        latency_kind: m.latency_kind.to_string(),
        latency: Latency::from_histogram(&m.latency),
        record_size: w.record_size,
        batch: w.batch,
        producers: w.producers,
        consumers: w.consumers,
        partitions: w.partitions,
        fsync,
        cpu_percent,
        cpu_of,
    }
    .rates(m.elapsed)
}
