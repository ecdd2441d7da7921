//! `eventlog consume`: print records from a start position, until caught up with the
//! live end (or `--count` records), or forever with `--follow`.
//!
//! With `--group` it starts where the group's commits say, and with `--commit` it
//! commits each batch after printing (and flushing) it: a record is committed only once
//! it has been written out, so a consumer stopped at any point resumes after the last
//! printed batch and prints nothing twice except, after a crash, the batch in progress
//! (at-least-once).
//!
//! With `--group` and `--follow` (and no `--partition`) it joins the group as a member
//! instead and reads only its share of the partitions (see `consume_member`).

use std::io::{self, Write};

use clap::Args;

use super::output::{Format, RECORD_HEADERS, record_json, record_row, write_json};
use super::parse::{StartFrom, parse_from};
use super::{ClientArgs, rpc_error};
use crate::client::Client;
use crate::client::raw_batches::DECODED_BATCH_VERSIONS;
use crate::client::subscriber::Subscriber;
use crate::proto::v1 as pb;
use crate::proto::v1::subscribe_request::Start;

/// Arguments of `consume`.
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// Topic to read.
    pub topic: String,
    /// Read one partition only (required with an offset start); all partitions by default.
    #[arg(long, env = "EVENTLOG_PARTITION")]
    pub partition: Option<u32>,
    /// Where to start: earliest, latest, an OFFSET, or an RFC 3339 time such as
    /// 2026-11-23T10:00:00Z (the first record at or after it). With --group: where
    /// partitions without a commit start (earliest or latest).
    #[arg(long, env = "EVENTLOG_FROM", default_value = "earliest", value_parser = parse_from)]
    pub from: StartFrom,
    /// Stop after this many records.
    #[arg(long, env = "EVENTLOG_COUNT")]
    pub count: Option<u64>,
    /// Keep waiting for new records instead of stopping at the live end.
    #[arg(long, env = "EVENTLOG_FOLLOW")]
    pub follow: bool,
    /// Resume from this consumer group's committed offsets.
    #[arg(long, env = "EVENTLOG_GROUP")]
    pub group: Option<String>,
    /// Commit the group's offsets after printing each batch (needs --group; implied
    /// with --follow, where the consumer joins the group as a member).
    #[arg(long, env = "EVENTLOG_COMMIT", requires = "group")]
    pub commit: bool,
    /// With --group --follow: a stable id for this consumer (static membership): when
    /// it stops, its partitions wait for it for the session timeout instead of moving.
    #[arg(long, env = "EVENTLOG_MEMBER_INSTANCE_ID", requires = "group")]
    pub member_instance_id: Option<String>,
    /// With --group --follow: how long the server waits for a silent member before
    /// moving its partitions (500ms to 30m; server default 10s).
    #[arg(long, env = "EVENTLOG_SESSION_TIMEOUT", requires = "group")]
    pub session_timeout: Option<humantime::Duration>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub client: ClientArgs,
}

/// Runs `consume`.
pub async fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    if matches!(args.from, StartFrom::Offset(_)) && args.partition.is_none() && args.group.is_none()
    {
        anyhow::bail!("--from OFFSET needs --partition: offsets are counted per partition");
    }
    if args.count == Some(0) {
        return Ok(());
    }
    // Following all partitions under a group: join it as a member and share the work.
    if let (true, None, Some(group)) = (args.follow, args.partition, args.group.clone()) {
        return super::consume_member::run(args, group).await;
    }
    let request = subscribe_request(&args)?;
    let mut client = args.client.connect().await?;
    // Resumes through another --server address when the serving node goes away.
    let mut stream = Subscriber::subscribe(client.clone(), request)
        .await
        .map_err(rpc_error)?;
    let mut out = io::stdout().lock();
    let mut printer = Printer::new(args.client.format, args.count);
    // One Ctrl-C listener for the whole loop, so a signal that arrives while a batch is
    // being printed is not missed.
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let message = tokio::select! {
            message = stream.next() => message.map_err(rpc_error)?,
            _ = &mut interrupted => break,
        };
        let printed = printer.print(&message.records, &mut out)?;
        out.flush()?;
        if let (true, Some(group)) = (args.commit, &args.group) {
            commit(&mut client, group, &args.topic, &message.records[..printed]).await?;
        }
        let done = printer.remaining == Some(0);
        if done || (message.caught_up && !args.follow) {
            break;
        }
    }
    Ok(())
}

/// The subscription `args` ask for.
fn subscribe_request(args: &ConsumeArgs) -> anyhow::Result<pb::SubscribeRequest> {
    let mut reset = pb::StartPosition::Unspecified;
    let start = match (&args.group, args.from) {
        (Some(group), StartFrom::Earliest | StartFrom::Latest) => {
            if args.from == StartFrom::Latest {
                reset = pb::StartPosition::Latest;
            }
            Start::Group(group.clone())
        }
        (Some(_), _) => anyhow::bail!(
            "with --group, --from only says where partitions without a commit start: earliest or latest"
        ),
        (None, StartFrom::Earliest) => Start::Position(pb::StartPosition::Earliest.into()),
        (None, StartFrom::Latest) => Start::Position(pb::StartPosition::Latest.into()),
        (None, StartFrom::Offset(offset)) => Start::Offset(offset),
        (None, StartFrom::Time(ms)) => Start::TimestampMs(ms),
    };
    Ok(pb::SubscribeRequest {
        topic: args.topic.clone(),
        partition: args.partition,
        start: Some(start),
        max_records_per_message: 0,
        reset: reset.into(),
        auto_commit_interval_ms: None,
        // Stored batches as bytes: no per-record work on the server; the client
        // checks each batch's CRC as it decodes it.
        delivery: pb::Delivery::RawBatches.into(),
        batch_versions: DECODED_BATCH_VERSIONS.to_vec(),
    })
}

/// Commits, per partition, the offset after the last of `records`.
async fn commit(
    client: &mut Client,
    group: &str,
    topic: &str,
    records: &[pb::StoredRecord],
) -> anyhow::Result<()> {
    let mut next: std::collections::BTreeMap<u32, u64> = std::collections::BTreeMap::new();
    for record in records {
        next.insert(record.partition, record.offset + 1);
    }
    if next.is_empty() {
        return Ok(());
    }
    let offsets: Vec<(u32, u64)> = next.into_iter().collect();
    client
        .commit_offsets(group, topic, &offsets)
        .await
        .map_err(rpc_error)?;
    Ok(())
}

/// Prints records, counting down `remaining`.
pub(super) struct Printer {
    format: Format,
    header_done: bool,
    /// Records still to print (`None`: no limit).
    pub(super) remaining: Option<u64>,
}

impl Printer {
    /// A printer in `format` stopping after `count` records.
    pub(super) fn new(format: Format, count: Option<u64>) -> Printer {
        Printer {
            format,
            header_done: false,
            remaining: count,
        }
    }

    /// Prints what fits in the count; returns how many records it printed.
    pub(super) fn print(
        &mut self,
        records: &[pb::StoredRecord],
        out: &mut impl Write,
    ) -> io::Result<usize> {
        let mut printed = 0;
        for record in records {
            if self.remaining == Some(0) {
                break;
            }
            printed += 1;
            match self.format {
                Format::Json => write_json(out, &record_json(record))?,
                Format::Text => {
                    if !self.header_done {
                        writeln!(out, "{}", text_line(&RECORD_HEADERS.map(String::from)))?;
                        self.header_done = true;
                    }
                    writeln!(out, "{}", text_line(&record_row(record)))?;
                }
            }
            self.remaining = self.remaining.map(|n| n - 1);
        }
        Ok(printed)
    }
}

/// A record line with fixed column widths, so lines align while streaming.
fn text_line(cells: &[String]) -> String {
    const WIDTHS: [usize; 4] = [9, 10, 24, 12];
    let mut line = String::new();
    for (i, cell) in cells.iter().enumerate() {
        match WIDTHS.get(i) {
            Some(width) => line.push_str(&format!("{cell:<width$}  ")),
            None => line.push_str(cell),
        }
    }
    line.trim_end().to_string()
}
