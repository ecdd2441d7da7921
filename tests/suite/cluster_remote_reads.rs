//! Reads through nodes that hold no replica, in a three-node cluster of the real
//! binary: a topic whose three partitions have one replica each (so every node holds
//! one partition and lacks two) is read through every node alike. Fetches (per record
//! and raw), a fetch that long-polls for a record produced after it was asked, offset
//! lookups (also by time), offsets out of range, and a subscription to the whole topic
//! all answer as from a replica of the node's own: a client needs to know one node.

use crate::cluster_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cluster_support::TestCluster;
use eventlog::client::Client;
use eventlog::client::raw_batches::decode_records;
use eventlog::proto::v1 as pb;
use tonic::Code;

const TOPIC: &str = "spread";
const PARTITIONS: u32 = 3;
const RECORDS: usize = 40;

fn values(records: &[pb::StoredRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect()
}

fn expected(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("r{i}")).collect()
}

/// The one node holding each partition, as node 1 describes the cluster.
async fn holders(cluster: &TestCluster) -> BTreeMap<u32, u64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let described = cluster.describe(1).await;
        let found: BTreeMap<u32, u64> = described
            .partitions
            .iter()
            .filter(|p| p.topic == TOPIC && p.replicas.len() == 1)
            .map(|p| (p.partition, p.replicas[0]))
            .collect();
        if found.len() == PARTITIONS as usize {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "placement not known: {described:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every record of `partition` through `client`, per record or raw, in fetches of 7.
async fn read_all(client: &mut Client, partition: u32, raw: bool) -> Vec<pb::StoredRecord> {
    let (mut out, mut offset) = (Vec::new(), 0);
    loop {
        let request = pb::FetchRequest {
            topic: TOPIC.into(),
            partition,
            offset,
            max_records: 7,
            delivery: if raw {
                pb::Delivery::RawBatches.into()
            } else {
                pb::Delivery::Records.into()
            },
            batch_versions: vec![2],
            ..Default::default()
        };
        let reply = client.event_log.fetch(request).await.unwrap().into_inner();
        let got = if raw {
            decode_records(partition, &reply.batches, offset).unwrap()
        } else {
            reply.records
        };
        if !raw {
            assert!(got.len() <= 7, "a fetch of 7 returned {}", got.len());
        }
        out.extend(got);
        assert!(reply.next_offset > offset || reply.next_offset == reply.high_watermark);
        if reply.next_offset >= reply.high_watermark {
            return out;
        }
        offset = reply.next_offset;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_serves_reads_of_partitions_it_holds_no_replica_of() {
    let cluster = TestCluster::start(3);
    cluster.create_topic(1, TOPIC, PARTITIONS, 1).await;
    let holders = holders(&cluster).await;
    let held: Vec<u64> = holders.values().copied().collect();
    assert_eq!(
        held.iter().collect::<std::collections::BTreeSet<_>>().len(),
        3,
        "one partition per node: {holders:?}"
    );
    cluster.produce_each(1, TOPIC, PARTITIONS, RECORDS).await;

    // What each partition's own replica serves: records (whose offsets begin past
    // the group's first Raft entries, stored as control batches) and bounds.
    let mut reference = BTreeMap::new();
    for partition in 0..PARTITIONS {
        let mut client = cluster.client_of(holders[&partition]).await;
        let records = read_all(&mut client, partition, false).await;
        assert_eq!(values(&records), expected(RECORDS));
        reference.insert(partition, records);
    }
    let reference_offsets = list_offsets(&cluster, 1).await;

    for id in 1..=3 {
        let mut client = cluster.client_of(id).await;
        for partition in 0..PARTITIONS {
            let here = holders[&partition] == id;
            for raw in [false, true] {
                let records = read_all(&mut client, partition, raw).await;
                assert_eq!(
                    records, reference[&partition],
                    "node {id}, partition {partition} (held here: {here}), raw: {raw}"
                );
            }
            // Past the end: OUT_OF_RANGE naming the replica's bounds, as from a replica.
            let (_, earliest, latest, _) = reference_offsets[partition as usize];
            let request = pb::FetchRequest {
                topic: TOPIC.into(),
                partition,
                offset: latest + 5,
                ..Default::default()
            };
            let refused = client.event_log.fetch(request).await.unwrap_err();
            assert_eq!(refused.code(), Code::OutOfRange, "node {id}: {refused}");
            assert!(
                refused
                    .message()
                    .contains(&format!("{earliest}..={latest}")),
                "node {id}: {refused}"
            );
        }
        assert_eq!(
            list_offsets(&cluster, id).await,
            reference_offsets,
            "offsets through node {id}"
        );
        // Described through any node, every partition is online, with its replica's
        // bounds and size.
        let described = client
            .admin
            .describe_topic(pb::DescribeTopicRequest { name: TOPIC.into() })
            .await
            .unwrap()
            .into_inner();
        for (p, (number, earliest, latest, _)) in
            described.partitions.iter().zip(&reference_offsets)
        {
            assert_eq!(p.partition, *number);
            assert_eq!(
                p.status,
                i32::from(pb::PartitionStatus::Online),
                "node {id}: {p:?}"
            );
            assert_eq!(
                (p.log_start_offset, p.high_watermark),
                (*earliest, *latest),
                "node {id}"
            );
            assert!(p.size_bytes > 0 && p.segment_count > 0, "node {id}: {p:?}");
        }
    }
    for (partition, (number, _, latest, by_time)) in reference_offsets.iter().enumerate() {
        assert_eq!(*number, partition as u32);
        assert_eq!(*latest, reference[number].last().unwrap().offset + 1);
        assert_eq!(*by_time, Some(reference[number][0].offset));
    }

    // A long-poll through a node without the replica waits there for the next record.
    let partition = 0;
    let other = (1..=3).find(|id| *id != holders[&partition]).unwrap();
    let end = reference_offsets[partition as usize].2;
    let mut waiting = cluster.client_of(other).await;
    let poll = tokio::spawn(async move {
        let request = pb::FetchRequest {
            topic: TOPIC.into(),
            partition,
            offset: end,
            max_wait_ms: 20_000,
            ..Default::default()
        };
        waiting.event_log.fetch(request).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !poll.is_finished(),
        "the long-poll answered before any record"
    );
    produce_one(&cluster, partition, "late").await;
    let reply = poll.await.unwrap().unwrap().into_inner();
    assert_eq!(values(&reply.records), vec!["late".to_string()]);
    assert_eq!(reply.records[0].offset, end);

    // A subscription to the whole topic through one node: history, then new records
    // of partitions it holds and lacks alike.
    let through = holders[&1];
    let mut client = cluster.client_of(through).await;
    let request = pb::SubscribeRequest {
        topic: TOPIC.into(),
        start: Some(pb::subscribe_request::Start::Position(
            pb::StartPosition::Earliest.into(),
        )),
        ..Default::default()
    };
    let mut stream = client
        .event_log
        .subscribe(request)
        .await
        .unwrap()
        .into_inner();
    let mut seen: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    let mut produced_late = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done = (0..PARTITIONS).all(|p| seen.get(&p).map_or(0, Vec::len) == RECORDS + 2);
        if done {
            break;
        }
        let message = tokio::time::timeout_at(deadline.into(), stream.message())
            .await
            .unwrap_or_else(|_| panic!("subscription stalled; seen {seen:?}"))
            .unwrap()
            .expect("stream open");
        for record in message.records {
            let value = String::from_utf8_lossy(record.value.as_deref().unwrap_or_default());
            seen.entry(record.partition)
                .or_default()
                .push(value.into_owned());
        }
        if message.caught_up && !produced_late {
            produced_late = true;
            for p in 0..PARTITIONS {
                let value = format!("after-{p}");
                produce_one(&cluster, p, &value).await;
                if p != 0 {
                    produce_one(&cluster, p, "late").await;
                }
            }
        }
    }
    for p in 0..PARTITIONS {
        let mut want = expected(RECORDS);
        if p == 0 {
            want.push("late".into());
            want.push("after-0".into());
        } else {
            want.push(format!("after-{p}"));
            want.push("late".into());
        }
        assert_eq!(seen[&p], want, "partition {p} through node {through}");
    }
}

/// `(partition, earliest, latest, first at or after time 0)` of every partition,
/// through node `id`.
async fn list_offsets(cluster: &TestCluster, id: u64) -> Vec<(u32, u64, u64, Option<u64>)> {
    let mut client = cluster.client_of(id).await;
    let listed = client
        .event_log
        .list_offsets(pb::ListOffsetsRequest {
            topic: TOPIC.into(),
            partition: None,
            timestamp_ms: Some(0),
        })
        .await
        .unwrap()
        .into_inner();
    listed
        .partitions
        .iter()
        .map(|p| {
            (
                p.partition,
                p.earliest_offset,
                p.latest_offset,
                p.timestamp_offset,
            )
        })
        .collect()
}

async fn produce_one(cluster: &TestCluster, partition: u32, value: &str) {
    let mut client = cluster.client_of(1).await;
    client
        .event_log
        .produce(pb::ProduceRequest {
            topic: TOPIC.into(),
            partition: Some(partition),
            records: vec![pb::Record {
                value: Some(Bytes::from(value.to_string())),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap();
}
