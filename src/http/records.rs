//! Records: `POST /api/v1/topics/{topic}/records` appends JSON-described records;
//! `GET /api/v1/topics/{topic}/partitions/{p}/records?offset=&max_records=&encoding=`
//! reads a bounded batch. Bounds are the broker's own caps.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};

use super::ApiError;
use super::body::{Reply, json_body};
use super::encoding::{Encoded, ReadEncoding, decode, encode};
use crate::broker::{Broker, FetchRequest};
use crate::storage::{ReadLimits, Record};

/// The body of a produce request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProduceBody {
    /// Append all records to this partition; else each goes by its key.
    partition: Option<u32>,
    /// The records, in order.
    records: Vec<NewRecord>,
}

/// One record to append.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRecord {
    key: Option<Encoded>,
    value: Option<Encoded>,
    timestamp_ms: Option<i64>,
}

/// Where a produced batch landed.
#[derive(Debug, Serialize)]
pub struct Appended {
    partition: u32,
    base_offset: u64,
    last_offset: u64,
}

/// One record read back.
#[derive(Debug, Serialize)]
pub struct ReadRecord {
    offset: u64,
    timestamp_ms: i64,
    key: Option<Encoded>,
    value: Option<Encoded>,
}

/// A fetch answer.
#[derive(Debug, Serialize)]
pub struct Fetched {
    records: Vec<ReadRecord>,
    next_offset: u64,
    high_watermark: u64,
    log_start_offset: u64,
}

/// `POST /api/v1/topics/{topic}/records`
pub async fn produce(
    State(broker): State<Arc<Broker>>,
    Path(topic): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Reply<Vec<Appended>>, ApiError> {
    let request: ProduceBody = json_body(&headers, &body)?;
    let now = now_ms();
    let records = request
        .records
        .into_iter()
        .enumerate()
        .map(|(i, record)| {
            Ok(Record {
                key: record
                    .key
                    .map(|k| decode(&format!("records[{i}].key"), k))
                    .transpose()?,
                value: record
                    .value
                    .map(|v| decode(&format!("records[{i}].value"), v))
                    .transpose()?,
                headers: Vec::new(),
                timestamp_ms: record.timestamp_ms.unwrap_or(now),
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let appended = broker
        .produce(&topic, request.partition, records, None)
        .await?
        .into_iter()
        .map(|a| Appended {
            partition: a.partition,
            base_offset: a.info.base_offset,
            last_offset: a.info.last_offset,
        })
        .collect();
    Ok(Reply(StatusCode::OK, appended))
}

/// `GET /api/v1/topics/{topic}/partitions/{partition}/records`
pub async fn fetch(
    State(broker): State<Arc<Broker>>,
    Path((topic, partition)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Reply<Fetched>, ApiError> {
    let partition: u32 = number("partition", &partition)?;
    let mut offset = 0;
    let mut limits = ReadLimits::default();
    let mut encoding = ReadEncoding::Auto;
    for pair in query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "offset" => offset = number(name, value)?,
            "max_records" => limits.max_records = positive(name, value)?,
            "max_bytes" => limits.max_bytes = positive(name, value)?,
            "encoding" => encoding = ReadEncoding::parse(value)?,
            other => return Err(ApiError::invalid(format!("unknown parameter {other:?}"))),
        }
    }
    let outcome = broker
        .fetch(FetchRequest {
            topic,
            partition,
            offset,
            limits,
            max_wait: Duration::ZERO,
        })
        .await?;
    let records = outcome
        .records
        .into_iter()
        .map(|r| {
            Ok(ReadRecord {
                offset: r.offset,
                timestamp_ms: r.timestamp_ms,
                key: r.key.map(|k| encode(&k, encoding)).transpose()?,
                value: r.value.map(|v| encode(&v, encoding)).transpose()?,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Reply(
        StatusCode::OK,
        Fetched {
            records,
            next_offset: outcome.next_offset,
            high_watermark: outcome.high_watermark,
            log_start_offset: outcome.log_start_offset,
        },
    ))
}

/// A number parameter.
fn number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, ApiError> {
    value
        .parse()
        .map_err(|_| ApiError::invalid(format!("{name}: {value:?} is not a valid number")))
}

/// A count that must be at least one.
fn positive(name: &str, value: &str) -> Result<usize, ApiError> {
    match number(name, value)? {
        0 => Err(ApiError::invalid(format!("{name} must be at least 1"))),
        n => Ok(n),
    }
}

/// Now, for records produced without a timestamp.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
