//! Compaction from the command line: `eventlog topic compact` asks a running server
//! (`CompactTopic`); `eventlog compact --data-dir` works on a stopped server's directory.
//! Both compact every COMPACT topic when no topic is named (and say so when there is
//! none), print one summary line per topic, or one `error:` line on stderr for a topic
//! that fails (in a cluster, also one per node whose replicas could not be compacted),
//! go on after it, and exit non-zero at the end if any did.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::json;

use super::error_line::{Reported, one_line};
use super::output::{Format, write_json};
use super::{ClientArgs, progress, rpc_error};
use crate::broker::BrokerError;
use crate::broker::offline::OfflineDir;
use crate::proto::v1 as pb;
use crate::storage::OpenError;

/// Arguments of `topic compact` (through the server).
#[derive(Debug, Args)]
pub struct OnlineArgs {
    /// Topics to compact; every topic with cleanup policy compact when none is named.
    pub topics: Vec<String>,
    /// Only report what compaction would remove; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub client: ClientArgs,
}

/// Arguments of `compact` (offline, on a data directory no server holds).
#[derive(Debug, Args)]
pub struct OfflineArgs {
    /// The data directory of a stopped server.
    #[arg(long, env = "EVENTLOG_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Topics to compact; every topic with cleanup policy compact when none is named.
    pub topics: Vec<String>,
    /// Only report what compaction would remove; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format: a text line or a JSON object per topic.
    #[arg(long, env = "EVENTLOG_FORMAT", value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Runs `topic compact` against the server.
pub async fn run_online(args: OnlineArgs) -> anyhow::Result<()> {
    let mut client = args.client.connect().await?;
    let topics = if args.topics.is_empty() {
        let listed = client
            .admin
            .list_topics(pb::ListTopicsRequest {})
            .await
            .map_err(rpc_error)?
            .into_inner();
        listed
            .topics
            .into_iter()
            .filter(|t| {
                t.config
                    .is_some_and(|c| c.cleanup_policy == pb::CleanupPolicy::Compact as i32)
            })
            .map(|t| t.name)
            .collect()
    } else {
        args.topics
    };
    let mut report = Report::new(args.client.format, args.dry_run, "online");
    for name in topics {
        let request = pb::CompactTopicRequest {
            name: name.clone(),
            dry_run: args.dry_run,
        };
        let outcome = client
            .admin
            .compact_topic(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(rpc_error);
        let unreachable = outcome
            .as_ref()
            .map(|reply| reply.unreachable.clone())
            .unwrap_or_default();
        report.topic(&name, outcome.map(|reply| reply.partitions))?;
        report.not_compacted(&name, &unreachable);
    }
    report.finish()
}

/// The error of an offline compaction that could not open the data directory; when a
/// server holds it, what to do instead.
fn open_failed(data_dir: &Path, err: BrokerError) -> anyhow::Error {
    let locked = matches!(&err, BrokerError::Open { source, .. }
        if matches!(source.as_ref(), OpenError::Locked { .. }));
    let err = anyhow::Error::new(err);
    let what = format!("cannot compact {} offline", data_dir.display());
    if !locked {
        return err.context(what);
    }
    anyhow::anyhow!(
        "{what}: {}: stop the server first, or compact through it with `eventlog topic compact`",
        one_line(&err)
    )
}

/// Runs `compact` on a data directory.
pub fn run_offline(args: OfflineArgs) -> anyhow::Result<()> {
    let dir = OfflineDir::open(&args.data_dir).map_err(|err| open_failed(&args.data_dir, err))?;
    let selected = dir.select(&args.topics);
    let total = selected
        .iter()
        .map(|(_, summary)| summary.map_or(0, |s| u64::from(s.partitions)))
        .sum();
    let bar = progress::bar(
        total,
        if args.dry_run {
            "estimating"
        } else {
            "compacting"
        },
    );
    let mut report = Report::new(args.format, args.dry_run, "offline");
    for (name, _) in selected {
        bar.set_message(name.clone());
        let outcome = dir
            .compact(&name, args.dry_run, &mut |_| bar.inc(1))
            .map(|partitions| partitions.into_iter().map(Into::into).collect())
            .map_err(anyhow::Error::from);
        bar.suspend(|| report.topic(&name, outcome))?;
    }
    bar.finish_and_clear();
    report.finish()
}

/// What `compact` and `topic compact` print when no topic is named and none has cleanup
/// policy compact.
pub const NOTHING_TO_COMPACT: &str = "no topics with cleanup policy compact";

/// Totals of a topic's partitions.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TopicTotals {
    /// Partitions compacted (in a cluster, those with a replica compacted).
    pub partitions: usize,
    /// In a cluster, the nodes whose replicas were compacted, by id (empty on a
    /// single node).
    pub nodes: Vec<u64>,
    /// Sealed segments before.
    pub segments_before: u64,
    /// Sealed segments after.
    pub segments_after: u64,
    /// Sealed bytes before.
    pub bytes_before: u64,
    /// Sealed bytes after.
    pub bytes_after: u64,
    /// Records removed, tombstones included.
    pub records_removed: u64,
    /// Tombstones removed.
    pub tombstones_removed: u64,
    /// Time taken, summed over the partitions, in milliseconds.
    pub duration_ms: u64,
}

impl TopicTotals {
    /// Sums the partitions of one topic.
    pub fn of(partitions: &[pb::PartitionCompaction]) -> TopicTotals {
        let numbers: BTreeSet<u32> = partitions.iter().map(|p| p.partition).collect();
        let nodes: BTreeSet<u64> = partitions
            .iter()
            .map(|p| p.node_id)
            .filter(|id| *id != 0)
            .collect();
        partitions.iter().fold(
            TopicTotals {
                partitions: numbers.len(),
                nodes: nodes.into_iter().collect(),
                ..TopicTotals::default()
            },
            |t, p| TopicTotals {
                segments_before: t.segments_before + p.segments_before,
                segments_after: t.segments_after + p.segments_after,
                bytes_before: t.bytes_before + p.bytes_before,
                bytes_after: t.bytes_after + p.bytes_after,
                records_removed: t.records_removed + p.records_removed,
                tombstones_removed: t.tombstones_removed + p.tombstones_removed,
                duration_ms: t.duration_ms + p.duration_ms,
                nodes: t.nodes,
                ..t
            },
        )
    }
}

/// Prints one line per topic, on stdout or (failures) on stderr, and remembers
/// failures for the exit code.
struct Report {
    format: Format,
    dry_run: bool,
    mode: &'static str,
    topics: usize,
    failed: usize,
}

impl Report {
    fn new(format: Format, dry_run: bool, mode: &'static str) -> Report {
        Report {
            format,
            dry_run,
            mode,
            topics: 0,
            failed: 0,
        }
    }

    fn topic(
        &mut self,
        name: &str,
        outcome: anyhow::Result<Vec<pb::PartitionCompaction>>,
    ) -> io::Result<()> {
        self.topics += 1;
        let partitions = match outcome {
            Ok(partitions) => partitions,
            Err(err) => {
                // The failure's one line, now: later topics still run, and the exit
                // code reports it at the end without a second line.
                eprintln!("error: compacting {name}: {}", one_line(&err));
                self.failed += 1;
                return Ok(());
            }
        };
        let t = TopicTotals::of(&partitions);
        let mut out = io::stdout().lock();
        match self.format {
            Format::Json => write_json(
                &mut out,
                &json!({
                    "topic": name,
                    "mode": self.mode,
                    "dry_run": self.dry_run,
                    "partitions": t.partitions,
                    "segments_before": t.segments_before,
                    "segments_after": t.segments_after,
                    "bytes_before": t.bytes_before,
                    "bytes_after": t.bytes_after,
                    "records_removed": t.records_removed,
                    "tombstones_removed": t.tombstones_removed,
                    "duration_ms": t.duration_ms,
                    "nodes": t.nodes,
                }),
            ),
            Format::Text => writeln!(out, "{}", self.line(name, &t)),
        }
    }

    fn line(&self, name: &str, t: &TopicTotals) -> String {
        // In a cluster, the figures sum every node's replicas.
        let nodes = match t.nodes.as_slice() {
            [] => String::new(),
            ids => format!(
                " on nodes {}",
                ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
            ),
        };
        if self.dry_run {
            format!(
                "{name}: would reclaim about {} bytes: bytes {} -> ~{}, {} records removable ({} tombstones), {} partitions{nodes} [dry run, {}]",
                t.bytes_before - t.bytes_after.min(t.bytes_before),
                t.bytes_before,
                t.bytes_after,
                t.records_removed,
                t.tombstones_removed,
                t.partitions,
                self.mode,
            )
        } else {
            format!(
                "{name}: bytes {} -> {}, segments {} -> {}, {} records removed ({} tombstones), {} partitions{nodes}, {} ms [{}]",
                t.bytes_before,
                t.bytes_after,
                t.segments_before,
                t.segments_after,
                t.records_removed,
                t.tombstones_removed,
                t.partitions,
                t.duration_ms,
                self.mode,
            )
        }
    }

    /// Reports the nodes whose replicas of `name` were not compacted now (one `error:`
    /// line each, on stderr), and remembers them for the exit code.
    fn not_compacted(&mut self, name: &str, unreachable: &[pb::UnreachableNode]) {
        for node in unreachable {
            eprintln!(
                "error: compacting {name}: the replicas on node {} were not compacted now: {}",
                node.node_id, node.reason
            );
        }
        if !unreachable.is_empty() {
            self.failed += 1;
        }
    }

    /// Ends the report: says so when there was nothing to compact (text only: JSON
    /// stays one object per topic), and fails if any topic did.
    fn finish(self) -> anyhow::Result<()> {
        if self.topics == 0 && self.format == Format::Text {
            writeln!(io::stdout().lock(), "{NOTHING_TO_COMPACT}")?;
        }
        match self.failed {
            0 => Ok(()),
            _ => Err(Reported.into()),
        }
    }
}
