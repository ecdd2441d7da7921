//! `eventlog dump FILE`: prints a segment file's batches and their records, for
//! debugging and for ops. Read-only; a damaged stretch is printed as such and skipped.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;
use serde_json::{Value, json};

use super::output::{Format, format_time_ms, record_json, write_json};
use crate::service::convert::stored_to_wire;
use crate::storage::batch::{BatchHeader, NO_PRODUCER};
use crate::storage::verify::{self, WalkEvent};

/// Arguments of `dump`.
#[derive(Debug, Args)]
pub struct DumpArgs {
    /// A segment file (`<base offset>.log`).
    pub file: PathBuf,
    /// Only the batch headers, not the records.
    #[arg(long)]
    pub batches_only: bool,
    /// Output format: indented text, or one JSON object per batch and per record.
    #[arg(long, env = "EVENTLOG_FORMAT", value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Runs `dump`.
pub fn run(args: DumpArgs) -> anyhow::Result<()> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut failure: Option<io::Error> = None;
    let mut write = |event: WalkEvent<'_>| {
        if failure.is_none()
            && let Err(err) = print_event(&mut out, &args, event)
        {
            failure = Some(err);
        }
    };
    verify::walk(&args.file, &mut write)
        .map_err(|err| anyhow::anyhow!("cannot dump {}: {err}", args.file.display()))?;
    if let Some(err) = failure {
        return Err(err.into());
    }
    out.flush()?;
    Ok(())
}

fn print_event(out: &mut impl Write, args: &DumpArgs, event: WalkEvent<'_>) -> io::Result<()> {
    match event {
        WalkEvent::Batch {
            position,
            header,
            records,
        } => {
            match args.format {
                Format::Json => write_json(
                    out,
                    &json!({
                        "batch": {
                            "position": position,
                            "length": header.length,
                            "base_offset": header.base_offset,
                            "last_offset": header.last_offset(),
                            "record_count": header.record_count,
                            "first_timestamp_ms": header.first_timestamp,
                            "max_timestamp_ms": header.max_timestamp,
                            "leader_epoch": header.leader_epoch,
                            "attributes": header.attributes,
                            "producer_id": header.producer_id,
                            "producer_epoch": header.producer_epoch,
                            "base_sequence": header.base_sequence,
                        }
                    }),
                )?,
                Format::Text => writeln!(
                    out,
                    "batch at byte {position}: offsets {}..={}, {} records, {} bytes, term {}{}, time {} .. max {}",
                    header.base_offset,
                    header.last_offset(),
                    header.record_count,
                    header.length,
                    header.leader_epoch,
                    batch_notes(&header),
                    format_time_ms(header.first_timestamp),
                    format_time_ms(header.max_timestamp),
                )?,
            }
            if args.batches_only {
                return Ok(());
            }
            for record in records {
                // The partition is not known from a file alone; the wire form's field is
                // dropped rather than shown as 0.
                let mut value = record_json(&stored_to_wire(0, record));
                if let Value::Object(object) = &mut value {
                    object.remove("partition");
                }
                match args.format {
                    Format::Json => write_json(out, &json!({ "record": value }))?,
                    Format::Text => writeln!(out, "  {}", text_record(&value))?,
                }
            }
            Ok(())
        }
        WalkEvent::Bad { position, fault } => match args.format {
            Format::Json => write_json(
                out,
                &json!({ "damage": { "position": position, "what": fault.to_string() } }),
            ),
            Format::Text => writeln!(out, "damage at byte {position}: {fault}"),
        },
    }
}

/// The header fields worth a word in text output: a producer, compression, control.
fn batch_notes(header: &BatchHeader) -> String {
    let mut notes = String::new();
    if header.producer_id != NO_PRODUCER {
        notes += &format!(
            ", producer {} epoch {} sequence {}",
            header.producer_id, header.producer_epoch, header.base_sequence
        );
    }
    let codec = header.codec_bits();
    if codec != 0 {
        let name = ["gzip", "snappy", "lz4", "zstd"]
            .get(usize::from(codec) - 1)
            .unwrap_or(&"unknown codec");
        notes += &format!(", compressed ({name})");
    }
    if header.is_control() {
        notes += ", control";
    }
    notes
}

/// `offset 7 2026-11-23T10:00:00.000Z key=k value=v h1=x` from a record's JSON form.
fn text_record(record: &Value) -> String {
    let field = |name: &str| -> String {
        match (&record[name], &record[format!("{name}_hex")]) {
            (Value::String(text), _) => format!("{name}={text:?}"),
            (_, Value::String(hex)) => format!("{name}=0x{hex}"),
            _ if name == "value" => "<tombstone>".to_string(),
            _ => format!("{name}=-"),
        }
    };
    let mut line = format!(
        "offset {} {} {} {}",
        record["offset"],
        record["time"].as_str().unwrap_or_default(),
        field("key"),
        field("value")
    );
    for header in record["headers"].as_array().into_iter().flatten() {
        let value = header["value"]
            .as_str()
            .map(|v| format!("{v:?}"))
            .or_else(|| header["value_hex"].as_str().map(|h| format!("0x{h}")))
            .unwrap_or_default();
        line.push_str(&format!(
            " {}={value}",
            header["key"].as_str().unwrap_or_default()
        ));
    }
    line
}
