//! `eventlog verify --data-dir DIR`: checks every batch CRC and every index of every
//! partition of every topic, and the consumer-group offsets log (`groups/`) if present,
//! and prints each problem with its file and byte position. Read-only (no lock taken),
//! so it may run beside a server; the exit code is non-zero when any error is found.

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use serde_json::json;

use super::output::{Format, write_json};
use super::progress;
use crate::broker::metadata;
use crate::storage::verify::{self, Problem, Severity, VerifyReport};

/// Arguments of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The data directory to check.
    #[arg(long, env = "EVENTLOG_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Output format: text lines, or one JSON object per problem and a summary object.
    #[arg(long, env = "EVENTLOG_FORMAT", value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Runs `verify`.
pub fn run(args: VerifyArgs) -> anyhow::Result<()> {
    let topics_dir = args.data_dir.join("topics");
    anyhow::ensure!(
        topics_dir.is_dir(),
        "{} is not an eventlog data directory (no topics/ in it)",
        args.data_dir.display()
    );
    let (partitions, mut problems) = partition_dirs(&args.data_dir)?;
    let bar = progress::bar(partitions.len() as u64, "verifying");
    let mut total = VerifyReport::default();
    for dir in &partitions {
        bar.set_message(dir.display().to_string());
        let report = verify::verify(dir).with_context(|| format!("verifying {}", dir.display()))?;
        total.segments += report.segments;
        total.batches += report.batches;
        total.records += report.records;
        problems.extend(report.problems);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let errors = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count();
    let warnings = problems.len() - errors;
    let mut out = io::stdout().lock();
    for problem in &problems {
        print_problem(&mut out, args.format, problem)?;
    }
    let checked = Checked::of(&args.data_dir, &partitions);
    match args.format {
        Format::Json => write_json(
            &mut out,
            &json!({
                "topics": checked.topics,
                "partitions": checked.partitions,
                "consumer_offsets_log": checked.offsets_log,
                "segments": total.segments,
                "batches": total.batches,
                "records": total.records,
                "errors": errors,
                "warnings": warnings,
            }),
        )?,
        Format::Text => writeln!(
            out,
            "verified {checked}: {} segments, {} batches, {} records; {errors} errors, {warnings} warnings",
            total.segments, total.batches, total.records
        )?,
    }
    anyhow::ensure!(
        errors == 0,
        "{errors} errors found in {}",
        args.data_dir.display()
    );
    Ok(())
}

/// Every partition directory (topics in name order, then `groups/`), and problems with
/// topic metadata found on the way.
fn partition_dirs(data_dir: &Path) -> anyhow::Result<(Vec<PathBuf>, Vec<Problem>)> {
    let mut dirs = Vec::new();
    let mut problems = Vec::new();
    for topic in sorted_subdirs(&data_dir.join("topics"))? {
        let name = topic
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Leftovers of an interrupted create or delete; the server removes them on start.
        if name.contains('~') {
            continue;
        }
        let partitions = match metadata::read(&topic) {
            Ok(summary) => summary.partitions,
            Err(err) => {
                problems.push(Problem {
                    severity: Severity::Error,
                    path: topic.join(metadata::METADATA_FILE),
                    position: None,
                    what: err.to_string(),
                });
                // Still check whatever partition directories are there.
                u32::try_from(sorted_subdirs(&topic)?.len()).unwrap_or(u32::MAX)
            }
        };
        for partition in 0..partitions {
            let dir = topic.join(partition.to_string());
            if dir.is_dir() {
                dirs.push(dir);
            } else {
                problems.push(Problem {
                    severity: Severity::Error,
                    path: dir,
                    position: None,
                    what: "partition directory missing".into(),
                });
            }
        }
    }
    let groups = data_dir.join("groups");
    if groups.is_dir() {
        dirs.push(groups);
    }
    Ok((dirs, problems))
}

/// What a run checked, for its summary: the consumer-offsets log is not a partition.
struct Checked {
    topics: usize,
    partitions: usize,
    offsets_log: bool,
}

impl Checked {
    fn of(data_dir: &Path, dirs: &[PathBuf]) -> Checked {
        let groups = data_dir.join("groups");
        let partitions: Vec<&PathBuf> = dirs.iter().filter(|d| **d != groups).collect();
        let mut topics: Vec<_> = partitions.iter().filter_map(|d| d.parent()).collect();
        topics.dedup();
        Checked {
            topics: topics.len(),
            partitions: partitions.len(),
            offsets_log: partitions.len() < dirs.len(),
        }
    }
}

impl fmt::Display for Checked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: usize, one: &str, many: &str| match n {
            1 => format!("1 {one}"),
            _ => format!("{n} {many}"),
        };
        match self.topics {
            0 => f.write_str("no topics")?,
            topics => write!(
                f,
                "{} of {}",
                plural(self.partitions, "partition", "partitions"),
                plural(topics, "topic", "topics")
            )?,
        }
        if self.offsets_log {
            f.write_str(" and the consumer-offsets log")?;
        }
        Ok(())
    }
}

fn sorted_subdirs(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("reading {}", dir.display()))?
            .path();
        if path.is_dir() {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

fn print_problem(out: &mut impl Write, format: Format, problem: &Problem) -> io::Result<()> {
    let severity = match problem.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    match format {
        Format::Json => write_json(
            out,
            &json!({
                "severity": severity,
                "path": problem.path.display().to_string(),
                "position": problem.position,
                "what": problem.what,
            }),
        ),
        Format::Text => {
            let at = problem
                .position
                .map_or(String::new(), |p| format!(" at byte {p}"));
            writeln!(
                out,
                "{severity}: {}{at}: {}",
                problem.path.display(),
                problem.what
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Checked;

    #[test]
    fn the_summary_names_partitions_topics_and_the_offsets_log() {
        let line = |topics, partitions, offsets_log| {
            let checked = Checked {
                topics,
                partitions,
                offsets_log,
            };
            checked.to_string()
        };
        assert_eq!(
            line(1, 3, true),
            "3 partitions of 1 topic and the consumer-offsets log"
        );
        assert_eq!(line(2, 1, false), "1 partition of 2 topics");
        assert_eq!(line(0, 0, true), "no topics and the consumer-offsets log");
    }
}
