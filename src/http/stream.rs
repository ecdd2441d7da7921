//! `GET /api/v1/topics/{topic}/stream`: records as Server-Sent Events, over one, some or
//! every partition, following the tail. Each `records` event carries one partition's
//! next records and, as its id, the next offset of every streamed partition (see
//! [`resume`](super::resume)); a client that reconnects with `Last-Event-ID` continues
//! where it stopped. A broker error ends the stream with an `error` event holding the
//! same JSON as an error answer.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, BoxStream, SelectAll, Stream, StreamExt};
use serde::Serialize;
use utoipa::ToSchema;

use super::encoding::ReadEncoding;
use super::query::{self, number, positive};
use super::records::{ReadRecord, read_record};
use super::{ApiError, resume};
use crate::broker::{Broker, BrokerError, StartAt, Subscription, SubscriptionEvent};
use crate::storage::ReadLimits;

/// The data of a `records` event.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamedRecords {
    partition: u32,
    records: Vec<ReadRecord>,
}

type Tagged = (u32, Result<SubscriptionEvent, BrokerError>);

/// What the stream was asked for.
struct StreamRequest {
    partitions: Option<Vec<u32>>,
    start: StartAt,
    encoding: ReadEncoding,
    chunk: ReadLimits,
}

/// Streams records as they are written.
#[utoipa::path(get, path = "/api/v1/topics/{topic}/stream", tag = "records",
    params(("topic" = String, Path),
        ("partitions" = Option<String>, Query, description = "comma-separated; default every partition"),
        ("start" = Option<String>, Query, description = "earliest, latest (default), an offset, or time:<ms since the epoch>"),
        ("max_records" = Option<usize>, Query, description = "most records per event"),
        ("encoding" = Option<String>, Query, description = "auto (default), json, text or base64"),
        ("Last-Event-ID" = Option<String>, Header, description = "resume after this event: partition:next_offset,...")),
    responses((status = 200, description = "text/event-stream of `records` events", body = StreamedRecords),
        (status = "4XX", body = super::error::ErrorBody)))]
pub async fn stream(
    State(broker): State<Arc<Broker>>,
    Extension(scope): Extension<crate::service::scope::Scope>,
    Path(topic): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    scope.check_topic(&topic)?;
    let request = parse_request(raw.as_deref())?;
    let resume_from = match headers.get("last-event-id") {
        Some(id) => Some(resume::parse(id.to_str().unwrap_or("?"))?),
        None => None,
    };
    let starts: Vec<(u32, StartAt)> = match resume_from {
        Some(positions) => positions
            .into_iter()
            .map(|(p, o)| (p, StartAt::Offset(o)))
            .collect(),
        None => {
            let partitions = match request.partitions {
                Some(listed) => listed,
                None => all_partitions(&broker, &topic).await?,
            };
            partitions.into_iter().map(|p| (p, request.start)).collect()
        }
    };
    let mut merged: SelectAll<BoxStream<'static, Tagged>> = SelectAll::new();
    let mut positions = BTreeMap::new();
    for (partition, start) in starts {
        let subscription = broker
            .subscribe(&topic, Some(partition), start, request.chunk)
            .await?;
        positions.extend(subscription.positions());
        merged.push(events_of(partition, subscription));
    }
    let events = to_sse(merged, positions, request.encoding);
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

fn parse_request(raw: Option<&str>) -> Result<StreamRequest, ApiError> {
    let mut request = StreamRequest {
        partitions: None,
        start: StartAt::Latest,
        encoding: ReadEncoding::Auto,
        chunk: ReadLimits {
            max_records: 100,
            ..ReadLimits::default()
        },
    };
    for (name, value) in query::pairs(raw) {
        match name.as_str() {
            "partitions" => {
                let listed = value
                    .split(',')
                    .map(|p| number::<u32>(&name, p.trim()))
                    .collect::<Result<Vec<_>, _>>()?;
                request.partitions = Some(listed);
            }
            "start" => request.start = parse_start(&value)?,
            "max_records" => request.chunk.max_records = positive(&name, &value)?,
            "encoding" => request.encoding = ReadEncoding::parse(&value)?,
            other => return Err(query::unknown(other)),
        }
    }
    Ok(request)
}

fn parse_start(value: &str) -> Result<StartAt, ApiError> {
    match value {
        "earliest" => Ok(StartAt::Earliest),
        "latest" => Ok(StartAt::Latest),
        _ => match value.strip_prefix("time:") {
            Some(ms) => Ok(StartAt::Timestamp(number("start", ms)?)),
            None => Ok(StartAt::Offset(number("start", value)?)),
        },
    }
}

/// Every partition number of the topic.
async fn all_partitions(broker: &Broker, topic: &str) -> Result<Vec<u32>, ApiError> {
    let offsets = broker.list_offsets(topic, None, None).await?;
    Ok(offsets.into_iter().map(|o| o.partition).collect())
}

/// A subscription's events, tagged with its partition.
fn events_of(partition: u32, subscription: Subscription) -> BoxStream<'static, Tagged> {
    stream::unfold(subscription, move |mut sub| async move {
        let event = sub.next().await;
        Some(((partition, event), sub))
    })
    .boxed()
}

/// The merged events as SSE: records become `records` events with the resume id; the
/// first error becomes an `error` event and ends the stream.
fn to_sse(
    merged: SelectAll<BoxStream<'static, Tagged>>,
    positions: BTreeMap<u32, u64>,
    encoding: ReadEncoding,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let state = Some((Box::pin(merged), positions));
    stream::unfold(state, move |state| async move {
        let (mut merged, mut positions): (Pin<Box<_>>, _) = state?;
        loop {
            let (partition, event) = merged.next().await?;
            let records = match event {
                // HTTP subscriptions never switch to raw batches.
                Ok(SubscriptionEvent::CaughtUp | SubscriptionEvent::Batches { .. }) => continue,
                Ok(SubscriptionEvent::Records { records, .. }) => records,
                Err(err) => return Some((Ok(error_event(err.into())), None)),
            };
            if let Some(last) = records.last() {
                positions.insert(partition, last.offset + 1);
            }
            let event = match records_event(partition, &records, encoding, &positions) {
                Ok(event) => event,
                Err(err) => return Some((Ok(error_event(err)), None)),
            };
            return Some((Ok(event), Some((merged, positions))));
        }
    })
}

fn records_event(
    partition: u32,
    records: &[crate::storage::StoredRecord],
    encoding: ReadEncoding,
    positions: &BTreeMap<u32, u64>,
) -> Result<Event, ApiError> {
    let records = records
        .iter()
        .map(|r| read_record(r, encoding))
        .collect::<Result<Vec<_>, _>>()?;
    let data = serde_json::to_string(&StreamedRecords { partition, records })
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Event::default()
        .event("records")
        .id(resume::encode(positions))
        .data(data))
}

fn error_event(err: ApiError) -> Event {
    let data = serde_json::to_string(&err.body()).unwrap_or_default();
    Event::default().event("error").data(data)
}
