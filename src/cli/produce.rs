//! `eventlog produce`: append VALUE, or one record per line of standard input sent in
//! batches, and print where each landed. Idempotent by default: a request whose reply
//! was lost is retried without being appended twice ([`crate::client::producer`]).

use std::io::{self, BufRead, Write};

use anyhow::Context;
use bytes::Bytes;
use clap::Args;
use serde_json::json;

use super::acks::AcksArg;
use super::output::{Format, write_json};
use super::parse::parse_header;
use super::{ClientArgs, rpc_error};
use crate::client::producer::{Producer, ProducerOptions};
use crate::proto::v1 as pb;

/// Most records per request when reading standard input.
const BATCH_RECORDS: usize = 1000;
/// Most value bytes per request when reading standard input (well below the server's
/// batch limit, so a batch of ordinary lines is never refused for its size).
const BATCH_BYTES: usize = 1 << 20;

/// Arguments of `produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Topic to append to.
    pub topic: String,
    /// The record's value; without it, each line of standard input is one record.
    pub value: Option<String>,
    /// Key of every record (records with equal keys go to the same partition).
    #[arg(long, env = "EVENTLOG_KEY", conflicts_with = "key_separator")]
    pub key: Option<String>,
    /// Split each record at the first SEP into key and value.
    #[arg(long, env = "EVENTLOG_KEY_SEPARATOR", value_name = "SEP")]
    pub key_separator: Option<String>,
    /// Partition for every record; by default placed by key hash, or round-robin.
    #[arg(long, env = "EVENTLOG_PARTITION")]
    pub partition: Option<u32>,
    /// A header key=value for every record; repeat for more.
    #[arg(long = "header", env = "EVENTLOG_HEADER", value_name = "KEY=VALUE", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,
    /// Send plain requests: a retry after a lost reply may then append records twice.
    #[arg(long)]
    pub no_idempotence: bool,
    /// On a replicated topic, what the acknowledgement waits for: a majority of the
    /// partition's replicas (all), or its leader alone (leader: faster, but lost if
    /// the leader fails before a majority has the records).
    #[arg(long, env = "EVENTLOG_ACKS", value_enum, default_value_t = AcksArg::All)]
    pub acks: AcksArg,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub client: ClientArgs,
}

/// Runs `produce`.
pub async fn run(args: ProduceArgs) -> anyhow::Result<()> {
    let client = args.client.connect().await?;
    let options = ProducerOptions {
        idempotent: !args.no_idempotence,
        acks: args.acks.into(),
        ..ProducerOptions::default()
    };
    let mut producer = Producer::new(client, &args.topic, options)
        .await
        .map_err(rpc_error)?;
    let mut out = io::stdout().lock();
    if let Some(value) = &args.value {
        let record = make_record(&args, value.as_bytes(), 1)?;
        return send(&mut producer, &args, vec![record], &mut out).await;
    }
    let mut input = io::stdin().lock();
    let mut batch = Vec::new();
    let mut batch_bytes = 0;
    let mut line = Vec::new();
    let mut line_number = 0;
    loop {
        line.clear();
        let read = input
            .read_until(b'\n', &mut line)
            .context("reading standard input")?;
        if read == 0 {
            break;
        }
        line_number += 1;
        let record = make_record(&args, strip_newline(&line), line_number)?;
        batch_bytes += line.len();
        batch.push(record);
        if batch.len() >= BATCH_RECORDS || batch_bytes >= BATCH_BYTES {
            send(&mut producer, &args, std::mem::take(&mut batch), &mut out).await?;
            batch_bytes = 0;
        }
    }
    if !batch.is_empty() {
        send(&mut producer, &args, batch, &mut out).await?;
    }
    Ok(())
}

fn strip_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Builds the record for one input (line `number` of stdin, or the VALUE argument).
fn make_record(args: &ProduceArgs, input: &[u8], number: usize) -> anyhow::Result<pb::Record> {
    let (key, value) = match &args.key_separator {
        Some(separator) => {
            let at = find(input, separator.as_bytes())
                .with_context(|| format!("record {number} has no key separator {separator:?}"))?;
            (Some(&input[..at]), &input[at + separator.len()..])
        }
        None => (args.key.as_deref().map(str::as_bytes), input),
    };
    Ok(pb::Record {
        key: key.map(Bytes::copy_from_slice),
        value: Some(Bytes::copy_from_slice(value)),
        headers: args
            .headers
            .iter()
            .map(|(k, v)| pb::Header {
                key: k.clone(),
                value: Bytes::copy_from_slice(v.as_bytes()),
            })
            .collect(),
        timestamp_ms: None,
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Sends one batch (one request per partition) and prints where it landed.
async fn send(
    producer: &mut Producer,
    args: &ProduceArgs,
    records: Vec<pb::Record>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let appends = match args.partition {
        Some(partition) => vec![
            producer
                .send_to(partition, records)
                .await
                .map_err(rpc_error)?,
        ],
        None => producer.send(records).await.map_err(rpc_error)?,
    };
    for append in appends {
        match args.client.format {
            Format::Json => write_json(
                out,
                &json!({
                    "partition": append.partition,
                    "base_offset": append.base_offset,
                    "last_offset": append.last_offset,
                    "timestamp_ms": append.timestamp_ms,
                }),
            )?,
            Format::Text if append.base_offset == append.last_offset => writeln!(
                out,
                "partition {} offset {}",
                append.partition, append.base_offset
            )?,
            Format::Text => writeln!(
                out,
                "partition {} offsets {}..={}",
                append.partition, append.base_offset, append.last_offset
            )?,
        }
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_lose_their_line_ending_only() {
        assert_eq!(strip_newline(b"a b\r\n"), b"a b");
        assert_eq!(strip_newline(b"x\n"), b"x");
        assert_eq!(strip_newline(b"\n"), b"");
        assert_eq!(strip_newline(b"last"), b"last");
    }

    #[test]
    fn separator_is_found_at_its_first_occurrence() {
        assert_eq!(find(b"k::v::w", b"::"), Some(1));
        assert_eq!(find(b"kv", b"::"), None);
        assert_eq!(find(b"kv", b""), None);
    }
}
