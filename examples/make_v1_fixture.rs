//! Writes the v1 upgrade fixture: a data directory written through the broker by this
//! release (batch format v1) and the `expected.json` describing everything in it, so
//! `tests/suite/upgrade_from_v1.rs` can prove later releases still open and read it unchanged.
//!
//! usage: cargo run --example make_v1_fixture -- OUT_DIR
//! OUT_DIR must not exist; it receives `data/` (the data directory, closed cleanly) and
//! `expected.json`. Only meaningful on a v1 release: the committed fixture under
//! `tests/fixtures/v1-data/` must never be regenerated with a later format.
//!
//! Segments: the smallest `segment_bytes` (1 MiB) would hold all of this data in one
//! segment, so rolls come from `segment_ms = 1` with a short sleep between produce
//! calls (every call then starts a new segment), which keeps the fixture small. The
//! setting is reset before the last calls, so the topics' stored configs are ordinary
//! and the active segments hold several batches. The ticker and background compaction
//! are kept out of the way (long tick, dirty ratio 1.0) so only the explicit steps below
//! shape the directory.

#[path = "../tests/suite/upgrade_support/mod.rs"]
mod upgrade_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use eventlog::broker::{
    Broker, BrokerConfig, CleanupPolicy, DirtyRatio, NewTopic, OffsetCommit, Setting,
    TopicConfigUpdate,
};
use eventlog::storage::{FsyncPolicy, Header, Record};
use upgrade_support::Content;

/// Timestamps of `orders` start here (2023-11-14), one second apart with a few
/// out-of-order ones; explicit so the fixture does not depend on the clock.
const ORDERS_BASE_MS: i64 = 1_700_000_000_000;
/// Timestamps of `state` start here.
const STATE_BASE_MS: i64 = 1_700_100_000_000;
/// Tombstones outlive any clock (100 years), so compaction keeps them however late the
/// fixture is read: what compaction does to them stays the same.
const DELETE_RETENTION_MS: u64 = 100 * 365 * 24 * 3600 * 1000;
/// Longer than any sleep below, so each produce call after it rolls the segment.
const ROLL_PAUSE: Duration = Duration::from_millis(5);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: make_v1_fixture OUT_DIR")?,
    );
    if out.exists() {
        return Err(format!("{} exists", out.display()).into());
    }
    let data_dir = out.join("data");
    let config = BrokerConfig {
        data_dir: data_dir.clone(),
        fsync: FsyncPolicy::Always,
        tick_interval: Duration::from_secs(3600),
        scrub_bytes_per_sec: 0,
        group_retention: Duration::ZERO,
        ..BrokerConfig::default()
    };
    let broker = tokio::task::spawn_blocking(move || Broker::open(config)).await??;
    write_orders(&broker).await?;
    write_state(&broker).await?;
    commit_billing(&broker).await?;
    let content = Content {
        written_by: "eventlog 0.1.0, batch format v1 (examples/make_v1_fixture.rs)".into(),
        topics: upgrade_support::read_topics(&broker).await,
        groups: upgrade_support::read_groups(&broker).await,
    };
    let closing = Arc::clone(&broker);
    tokio::task::spawn_blocking(move || closing.close()).await?;
    drop(broker);
    check_orders(&content);
    write_expected(&out, &content)?;
    println!("wrote {}", out.display());
    Ok(())
}

/// The `i`th record of `orders`: keyed or keyless, values empty, small, binary or
/// about 2 KiB, some tombstones, some headers.
fn order(i: u32) -> Record {
    let key = (i % 7 != 3).then(|| Bytes::from(format!("customer-{}", i % 23)));
    let value = match i % 10 {
        _ if key.is_some() && i.is_multiple_of(31) => None,
        0 => Some(Bytes::new()),
        5 => Some(Bytes::from(
            (0..2048 + i % 13)
                .map(|b| (b * 7 + i) as u8)
                .collect::<Vec<_>>(),
        )),
        8 => Some(Bytes::from(vec![0xff, 0x00, (i % 256) as u8, 0xfe])),
        _ => Some(Bytes::from(format!("order {i}: {} items", i % 5 + 1))),
    };
    let mut headers = Vec::new();
    if i % 4 == 1 {
        headers.push(Header {
            key: "trace-id".into(),
            value: Bytes::from(format!("{i:08x}")),
        });
        headers.push(Header {
            key: "source".into(),
            value: Bytes::from_static(b"web"),
        });
    }
    if i.is_multiple_of(9) {
        headers.push(Header {
            key: "empty".into(),
            value: Bytes::new(),
        });
    }
    let skew = if i.is_multiple_of(11) { -5_000 } else { 0 };
    Record {
        key,
        value,
        headers,
        timestamp_ms: ORDERS_BASE_MS + i64::from(i) * 1_000 + skew,
    }
}

/// 300 records in 10 produce calls of 30: eight placed by key (keyless ones
/// round-robin), each rolling every partition's segment, then two into the active
/// segments after the roll setting is reset.
async fn write_orders(broker: &Arc<Broker>) -> Result<(), Box<dyn std::error::Error>> {
    broker
        .create_topic(NewTopic {
            name: "orders".into(),
            partitions: Some(3),
            cleanup_policy: CleanupPolicy::Delete,
            segment_ms: Some(1),
            ..NewTopic::default()
        })
        .await?;
    for call in 0..10u32 {
        if call == 8 {
            reset_segment_ms(broker, "orders").await?;
        }
        tokio::time::sleep(ROLL_PAUSE).await;
        let records = (call * 30..call * 30 + 30).map(order).collect();
        let partition = (call == 9).then_some(1);
        broker
            .produce(
                "orders",
                partition,
                records,
                None,
                eventlog::broker::Acks::All,
            )
            .await?;
    }
    Ok(())
}

/// The `round`th write of `state` key `k`: `None` for a tombstone.
fn state_value(round: u32, k: u32) -> Option<Bytes> {
    let tombstone = matches!((round, k), (3, 2) | (3, 5) | (4, 9) | (5, 2));
    let size = if k == 7 { 1500 } else { 0 };
    (!tombstone).then(|| Bytes::from(format!("k{k:02}=v{round}{}", "x".repeat(size))))
}

/// Twelve keys written in five rounds (one produce call and one segment each, with
/// tombstones in rounds 3 and 4 and a key written again after its tombstone), one
/// compaction of the sealed rounds 0..=3, then a sixth round into the active segment.
async fn write_state(broker: &Arc<Broker>) -> Result<(), Box<dyn std::error::Error>> {
    broker
        .create_topic(NewTopic {
            name: "state".into(),
            partitions: Some(1),
            cleanup_policy: CleanupPolicy::Compact,
            delete_retention_ms: Some(DELETE_RETENTION_MS),
            min_cleanable_dirty_ratio: Some(DirtyRatio::new(1.0)?),
            segment_ms: Some(1),
            ..NewTopic::default()
        })
        .await?;
    let mut ts = STATE_BASE_MS;
    for round in 0..6u32 {
        if round == 5 {
            let compacted = broker.compact_topic("state", false).await?;
            println!("compacted state: {compacted:?}");
            reset_segment_ms(broker, "state").await?;
        }
        tokio::time::sleep(ROLL_PAUSE).await;
        let keys: Vec<u32> = if round == 5 {
            vec![0, 1, 2]
        } else {
            (0..12).collect()
        };
        let records = keys
            .into_iter()
            .map(|k| {
                ts += 1_000;
                Record {
                    key: Some(Bytes::from(format!("k{k:02}"))),
                    value: state_value(round, k),
                    headers: if k == 4 {
                        vec![Header {
                            key: "round".into(),
                            value: Bytes::from(round.to_string()),
                        }]
                    } else {
                        vec![]
                    },
                    timestamp_ms: ts,
                }
            })
            .collect();
        broker
            .produce("state", Some(0), records, None, eventlog::broker::Acks::All)
            .await?;
    }
    Ok(())
}

/// Returns the topic's `segment_ms` to its default, so later appends stop rolling.
async fn reset_segment_ms(
    broker: &Arc<Broker>,
    topic: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let update = TopicConfigUpdate {
        segment_ms: Setting::Reset,
        ..TopicConfigUpdate::default()
    };
    broker.update_topic_config(topic, update).await?;
    Ok(())
}

/// Group `billing` commits on every `orders` partition, partition 0 twice (the later
/// commit is the one kept).
async fn commit_billing(broker: &Arc<Broker>) -> Result<(), Box<dyn std::error::Error>> {
    let offsets = broker.list_offsets("orders", None, None).await?;
    let commit = |partition: u32, next_offset: u64, metadata: &str| OffsetCommit {
        partition,
        next_offset,
        metadata: metadata.into(),
    };
    broker
        .commit_offsets("billing", "orders", vec![commit(0, 3, "first")])
        .await?;
    let entries = vec![
        commit(0, 41, "batch-7"),
        commit(1, offsets[1].latest, ""),
        commit(2, 1, "{\"host\":\"b-2\"}"),
    ];
    broker.commit_offsets("billing", "orders", entries).await?;
    Ok(())
}

/// The generator's own check: `orders` (never compacted) reads back exactly what was
/// produced, each partition in produce order.
fn check_orders(content: &Content) {
    let orders = &content.topics[0];
    assert_eq!(orders.name, "orders");
    let mut read: Vec<Record> = orders
        .partitions
        .iter()
        .flat_map(|p| p.records.iter().map(|r| r.to_record()))
        .collect();
    let mut produced: Vec<Record> = (0..300).map(order).collect();
    let sort_key = |r: &Record| (r.timestamp_ms, r.key.clone(), r.value.clone());
    read.sort_by_key(sort_key);
    produced.sort_by_key(sort_key);
    assert!(
        read == produced,
        "orders read back differs from what was produced"
    );
}

fn write_expected(out: &Path, content: &Content) -> Result<(), Box<dyn std::error::Error>> {
    let json = serde_json::to_string_pretty(content)?;
    std::fs::write(out.join("expected.json"), json + "\n")?;
    Ok(())
}
