//! Records: `POST /api/v1/topics/{topic}/records` appends JSON-described records;
//! `GET /api/v1/topics/{topic}/partitions/{p}/records` reads a bounded batch from an
//! offset or from the first record at or after a time. Bounds are the broker's caps.

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiError;
use super::body::{Reply, json_body};
use super::encoding::{Encoded, ReadEncoding, decode, encode};
use super::query::{self, number, positive};
use crate::broker::{Acks, Broker, FetchRequest};
use crate::service::scope::Scope;
use crate::storage::{Header, ReadLimits, Record, StoredRecord};

/// The body of a produce request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProduceBody {
    /// Append all records to this partition; else each goes by its key.
    partition: Option<u32>,
    /// The records, in order.
    records: Vec<NewRecord>,
    /// On a replicated topic, what the answer waits for: `all` (the default) once a
    /// majority of the partition's replicas hold the records, `leader` once the
    /// partition leader does (faster, but lost if the leader fails before a majority
    /// has them). The same on a single node.
    #[serde(default)]
    acks: AcksBody,
}

/// When a produce is acknowledged (see [`Acks`]).
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AcksBody {
    /// Once a majority of the replicas hold the records.
    #[default]
    All,
    /// Once the partition leader holds them.
    Leader,
}

impl From<AcksBody> for Acks {
    fn from(body: AcksBody) -> Acks {
        match body {
            AcksBody::All => Acks::All,
            AcksBody::Leader => Acks::Leader,
        }
    }
}

/// One record to append.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRecord {
    /// The key; absent for none.
    key: Option<Encoded>,
    /// The value; absent for a tombstone.
    value: Option<Encoded>,
    /// Headers, in order.
    #[serde(default)]
    headers: Vec<HeaderView>,
    /// Milliseconds since the epoch; default now.
    timestamp_ms: Option<i64>,
}

/// A record header: a name and encoded bytes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderView {
    /// The header name.
    key: String,
    /// The header value.
    value: Encoded,
}

/// Where a produced batch landed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Appended {
    partition: u32,
    base_offset: u64,
    last_offset: u64,
}

/// One record read back.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadRecord {
    offset: u64,
    timestamp_ms: i64,
    key: Option<Encoded>,
    value: Option<Encoded>,
    headers: Vec<HeaderView>,
}

/// A fetch answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Fetched {
    records: Vec<ReadRecord>,
    /// The offset to ask for next.
    next_offset: u64,
    high_watermark: u64,
    log_start_offset: u64,
}

/// Appends records.
#[utoipa::path(post, path = "/api/v1/topics/{topic}/records", tag = "records",
    params(("topic" = String, Path)), request_body = ProduceBody,
    responses((status = 200, body = [Appended]), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn produce(
    State(broker): State<Arc<Broker>>,
    Extension(scope): Extension<Scope>,
    Path(topic): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Reply<Vec<Appended>>, ApiError> {
    scope.check_topic(&topic)?;
    let request: ProduceBody = json_body(&headers, &body)?;
    let now = now_ms();
    let records = request
        .records
        .into_iter()
        .enumerate()
        .map(|(i, record)| new_record(i, record, now))
        .collect::<Result<Vec<_>, ApiError>>()?;
    let appended = broker
        .produce(
            &topic,
            request.partition,
            records,
            None,
            request.acks.into(),
        )
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

fn new_record(i: usize, record: NewRecord, now: i64) -> Result<Record, ApiError> {
    let headers = record
        .headers
        .into_iter()
        .enumerate()
        .map(|(h, header)| {
            Ok(Header {
                key: header.key,
                value: decode(&format!("records[{i}].headers[{h}]"), header.value)?,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Record {
        key: record
            .key
            .map(|k| decode(&format!("records[{i}].key"), k))
            .transpose()?,
        value: record
            .value
            .map(|v| decode(&format!("records[{i}].value"), v))
            .transpose()?,
        headers,
        timestamp_ms: record.timestamp_ms.unwrap_or(now),
    })
}

/// Reads records from an offset (default the log start) or a time.
#[utoipa::path(get, path = "/api/v1/topics/{topic}/partitions/{partition}/records", tag = "records",
    params(("topic" = String, Path), ("partition" = u32, Path),
        ("offset" = Option<u64>, Query, description = "first offset to read"),
        ("timestamp_ms" = Option<i64>, Query, description = "read from the first record at or after this time instead"),
        ("max_records" = Option<usize>, Query), ("max_bytes" = Option<usize>, Query),
        ("encoding" = Option<String>, Query, description = "auto (default), json, text or base64")),
    responses((status = 200, body = Fetched), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn fetch(
    State(broker): State<Arc<Broker>>,
    Extension(scope): Extension<Scope>,
    Path((topic, partition)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Reply<Fetched>, ApiError> {
    scope.check_topic(&topic)?;
    let partition: u32 = number("partition", &partition)?;
    let mut offset = None;
    let mut timestamp = None;
    let mut limits = ReadLimits::default();
    let mut encoding = ReadEncoding::Auto;
    for (name, value) in query::pairs(raw.as_deref()) {
        match name.as_str() {
            "offset" => offset = Some(number(&name, &value)?),
            "timestamp_ms" => timestamp = Some(number::<i64>(&name, &value)?),
            "max_records" => limits.max_records = positive(&name, &value)?,
            "max_bytes" => limits.max_bytes = positive(&name, &value)?,
            "encoding" => encoding = ReadEncoding::parse(&value)?,
            other => return Err(query::unknown(other)),
        }
    }
    let offset = match (offset, timestamp) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid("give offset or timestamp_ms, not both"));
        }
        (Some(offset), None) => offset,
        (None, Some(ts)) => offset_for_time(&broker, &topic, partition, ts).await?,
        (None, None) => 0,
    };
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
        .iter()
        .map(|r| read_record(r, encoding))
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

/// The first offset at or after `ts`, or the high watermark when every record is older.
async fn offset_for_time(
    broker: &Broker,
    topic: &str,
    partition: u32,
    ts: i64,
) -> Result<u64, ApiError> {
    let offsets = broker
        .list_offsets(topic, Some(partition), Some(ts))
        .await?;
    let found = offsets.first().map(|o| o.for_timestamp.unwrap_or(o.latest));
    found.ok_or_else(|| ApiError::internal("the broker listed no offsets for the partition"))
}

/// A stored record in the encoding asked for.
pub fn read_record(r: &StoredRecord, encoding: ReadEncoding) -> Result<ReadRecord, ApiError> {
    let headers = r
        .headers
        .iter()
        .map(|h| {
            Ok(HeaderView {
                key: h.key.clone(),
                value: encode(&h.value, encoding)?,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(ReadRecord {
        offset: r.offset,
        timestamp_ms: r.timestamp_ms,
        key: r.key.as_ref().map(|k| encode(k, encoding)).transpose()?,
        value: r.value.as_ref().map(|v| encode(v, encoding)).transpose()?,
        headers,
    })
}

/// Now, for records produced without a timestamp.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
