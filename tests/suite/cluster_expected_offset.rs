//! Conditional appends (`expected_next_offset`) on a replicated topic, in a three-node
//! cluster of the real binary: a batch is written only if it lands at exactly the
//! expected offset, through the leader or a follower alike; a stale or early
//! expectation gets FAILED_PRECONDITION with the partition's next offset and writes
//! nothing a consumer sees; of racing appends with one expectation, sent through all
//! three nodes at once, exactly one wins, at that offset, and every replica holds the
//! same records.

use crate::cluster_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cluster_support::TestCluster;
use cluster_support::replicas::{Records, check_replicas};
use eventlog::client::Client;
use eventlog::proto::v1 as pb;
use eventlog::service::status::NEXT_OFFSET_METADATA;
use tonic::Code;

const TOPIC: &str = "ledger";
const RACERS: usize = 9;
const ROUNDS: usize = 6;

async fn append(
    client: &mut Client,
    value: &str,
    expected: u64,
) -> Result<pb::ProduceResponse, tonic::Status> {
    let request = pb::ProduceRequest {
        topic: TOPIC.into(),
        partition: Some(0),
        records: vec![pb::Record {
            value: Some(Bytes::from(value.to_string())),
            ..Default::default()
        }],
        expected_next_offset: Some(expected),
        ..Default::default()
    };
    client
        .event_log
        .produce(request)
        .await
        .map(tonic::Response::into_inner)
}

/// The partition's next offset, as node `id` serves it.
async fn next_offset(cluster: &TestCluster, id: u64) -> u64 {
    let mut client = cluster.client_of(id).await;
    let request = pb::ListOffsetsRequest {
        topic: TOPIC.into(),
        partition: Some(0),
        timestamp_ms: None,
    };
    let reply = client.event_log.list_offsets(request).await.unwrap();
    reply.into_inner().partitions[0].latest_offset
}

/// Waits until node `id` serves the partition up to at least `floor`; its next
/// offset then.
async fn serving(cluster: &TestCluster, id: u64, floor: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let next = next_offset(cluster, id).await;
        if next >= floor {
            return next;
        }
        assert!(
            Instant::now() < deadline,
            "node {id} serves up to {next}, not {floor}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The next offset a refusal names, in its trailer and its message.
fn refused_next(status: &tonic::Status) -> u64 {
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let trailer = status
        .metadata()
        .get(NEXT_OFFSET_METADATA)
        .expect("next offset trailer");
    let next: u64 = trailer.to_str().unwrap().parse().unwrap();
    assert!(
        status.message().contains(&next.to_string()),
        "{}",
        status.message()
    );
    next
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_appends_land_exactly_where_expected_on_a_replicated_topic() {
    let cluster = TestCluster::start(3);
    cluster.create_topic(1, TOPIC, 1, 3).await;
    let leader = cluster.leader_of(TOPIC, 0).await;
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    let mut acknowledged = Records::new();

    // Through the leader, then through a follower (which hands it to the leader).
    let mut end = next_offset(&cluster, leader).await;
    for (via, value) in [(leader, "first"), (follower, "second")] {
        let mut client = cluster.client_of(via).await;
        let reply = append(&mut client, value, end).await.unwrap();
        assert_eq!(reply.partitions[0].base_offset, end, "through node {via}");
        acknowledged.insert((0, end), Bytes::from(value));
        end += 1;
    }

    // A stale expectation and an early one: refused, naming the next offset, and
    // nothing a consumer sees is written.
    let mut client = cluster.client_of(follower).await;
    for wrong in [end - 1, end + 10] {
        let refused = append(&mut client, "wrong", wrong).await.unwrap_err();
        assert_eq!(refused_next(&refused), end, "expected {wrong}");
    }
    assert_eq!(next_offset(&cluster, leader).await, end);

    // Racing appends with one expectation, through every node at once. A refused
    // racer is answered once its placeholder is written, which may be before it is
    // committed: each round expects the offset after the last round's placeholders,
    // once the leader serves them (a client reading the end too early is refused with
    // the next offset, as the racers are).
    let mut floor = end;
    for round in 0..ROUNDS {
        let expected = serving(&cluster, leader, floor).await;
        let mut racers = Vec::new();
        for racer in 0..RACERS {
            let via = (racer % 3) as u64 + 1;
            let mut client = cluster.client_of(via).await;
            let value = format!("round {round} racer {racer}");
            racers.push(tokio::spawn(async move {
                (value.clone(), append(&mut client, &value, expected).await)
            }));
        }
        let mut winners = BTreeMap::new();
        for racer in racers {
            match racer.await.unwrap() {
                (value, Ok(reply)) => {
                    winners.insert(value, reply.partitions[0].base_offset);
                }
                (_, Err(status)) => {
                    let next = refused_next(&status);
                    assert!(next > expected, "round {round}");
                    floor = floor.max(next);
                }
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        let (value, offset) = winners.into_iter().next().unwrap();
        assert_eq!(
            offset, expected,
            "round {round}: the winner landed elsewhere"
        );
        acknowledged.insert((0, offset), Bytes::from(value));
        floor = floor.max(offset + 1);
    }

    // Every replica holds exactly the acknowledged records, at their offsets (a
    // refused racer's placeholder is no record).
    check_replicas(&cluster, TOPIC, 1, &acknowledged).await;
}
