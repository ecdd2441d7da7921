//! The `eventlog` command line: `serve` runs the server; `topic`, `produce` and
//! `consume` are clients of a running server.
//!
//! Every flag can also be set with an `EVENTLOG_*` environment variable (flags win).
//! Errors are printed as one line on stderr with a non-zero exit code.
//!
//! # Layout
//! - [`serve`], [`topic`], [`produce`], [`consume`], [`group`]: one file per command;
//!   [`consume_member`]: `consume --group --follow` as a group member;
//!   [`group_members`]: the members in `group describe`.
//! - [`acks`]: `--acks` of `produce` and `bench`.
//! - [`connect`]: the token and TLS flags of the client commands.
//! - [`parse`]: values of flags (sizes, times, headers, start positions).
//! - [`output`]: tables and JSON on stdout.
//! - [`error_line`]: the one `error:` line on stderr.
//! - [`logging`]: tracing setup.
//! - [`compact`], [`verify`], [`dump`]: offline tools on a data directory or a segment
//!   file (`compact` also backs `topic compact`); [`topic_alter`]: `topic alter`;
//!   [`topic_partitions`]: `topic add-partitions`;
//!   [`progress`]: their progress bars.

pub mod acks;
pub mod bench;
pub mod cluster;
pub mod cluster_balance;
pub mod cluster_nodes;
pub mod compact;
pub mod connect;
pub mod consume;
pub mod consume_member;
pub mod dump;
pub mod error_line;
pub mod group;
pub mod group_members;
pub mod logging;
pub mod output;
pub mod parse;
pub mod produce;
pub mod progress;
pub mod serve;
pub mod serve_peers;
pub mod topic;
pub mod topic_alter;
pub mod topic_partitions;
pub mod topic_reassign;
pub mod verify;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::client::Client;
use logging::LogFormat;
use output::Format;

/// A durable append-only event log store with a gRPC API.
#[derive(Debug, Parser)]
#[command(name = "eventlog", version, about)]
pub struct Cli {
    /// Format of diagnostic logs on stderr (filter them with RUST_LOG).
    #[arg(long, global = true, env = "EVENTLOG_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(Box<serve::ServeArgs>),
    /// Create, list, describe or delete topics.
    #[command(subcommand)]
    Topic(topic::TopicCommand),
    /// Append records to a topic: VALUE, or one record per line of standard input.
    Produce(produce::ProduceArgs),
    /// Print records of a topic from a start position.
    Consume(consume::ConsumeArgs),
    /// List, describe, reset or delete consumer groups.
    #[command(subcommand)]
    Group(group::GroupCommand),
    /// Compact topics of a stopped server's data directory (offline).
    Compact(compact::OfflineArgs),
    /// Check every checksum and index of a data directory; exit non-zero on errors.
    Verify(verify::VerifyArgs),
    /// Print the batches and records of a segment file.
    Dump(dump::DumpArgs),
    /// Measure throughput and latency against a server (or an embedded one).
    Bench(bench::BenchArgs),
    /// Show a cluster's nodes and where each partition's replicas and leader are.
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
}

/// Options shared by every client command.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Address of the server (`https://` for TLS); for a cluster, several nodes
    /// separated by commas, which the client fails over between.
    #[arg(
        long,
        env = "EVENTLOG_SERVER",
        default_value = "http://127.0.0.1:50051"
    )]
    pub server: String,
    /// Token and TLS settings.
    #[command(flatten)]
    pub connect: connect::ConnectArgs,
    /// Output format: human-readable text or JSON (one object per line).
    #[arg(long, env = "EVENTLOG_FORMAT", value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

impl ClientArgs {
    /// Connects to the server.
    pub async fn connect(&self) -> anyhow::Result<Client> {
        self.connect.connect(&self.server).await
    }
}

/// Parses the command line, runs the command and turns the outcome into an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let is_server = matches!(cli.command, Command::Serve(_));
    logging::init(cli.log_format, if is_server { "info" } else { "warn" });
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if output::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) if error_line::is_reported(&err) => ExitCode::FAILURE,
        Err(err) => {
            error_line::print(&err);
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = match cli.command {
        // The server and the load generator spread work over all cores; a client needs one thread.
        Command::Bench(ref args) if args.one_thread() => {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
        }
        Command::Serve(_) | Command::Bench(_) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?,
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(*args).await,
            Command::Topic(command) => topic::run(command).await,
            Command::Produce(args) => produce::run(args).await,
            Command::Consume(args) => consume::run(args).await,
            Command::Group(command) => group::run(command).await,
            Command::Cluster(command) => cluster::run(command).await,
            // Offline tools: synchronous file work, nothing else runs on this runtime.
            Command::Compact(args) => compact::run_offline(args),
            Command::Verify(args) => verify::run(args),
            Command::Dump(args) => dump::run(args),
            Command::Bench(args) => bench::run(args).await,
        }
    })
}

/// Turns a gRPC status into a one-line error: the server's message and the code.
pub fn rpc_error(status: tonic::Status) -> anyhow::Error {
    let code = crate::service::rpc_metrics::code_name(status.code());
    anyhow::anyhow!("{} ({code})", status.message())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_read_like_grpc_names() {
        let line = |status| rpc_error(status).to_string();
        assert_eq!(
            line(tonic::Status::not_found("no topic t")),
            "no topic t (NOT_FOUND)"
        );
        assert_eq!(
            line(tonic::Status::failed_precondition("x")),
            "x (FAILED_PRECONDITION)"
        );
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
