//! `acks=leader`: a produce is acknowledged once the partition leader's own log holds
//! the batch, without waiting for the followers, while consumers still see it only once
//! a majority holds it (committed).

use crate::cluster_support;

use std::time::Duration;

use bytes::Bytes;
use cluster_support::TestCluster;
use eventlog::client::Client;
use eventlog::proto::v1 as pb;

const TOPIC: &str = "fast";

fn request(value: &'static [u8], acks: pb::Acks) -> pb::ProduceRequest {
    pb::ProduceRequest {
        topic: TOPIC.into(),
        partition: Some(0),
        records: vec![pb::Record {
            value: Some(Bytes::from_static(value)),
            ..Default::default()
        }],
        acks: acks.into(),
        ..Default::default()
    }
}

/// The high watermark and the (offset, value) pairs a fetch from offset 0 returns.
async fn visible(client: &mut Client) -> (u64, Vec<(u64, Bytes)>) {
    let reply = client
        .event_log
        .fetch(pb::FetchRequest {
            topic: TOPIC.into(),
            partition: 0,
            offset: 0,
            max_records: 100,
            ..Default::default()
        })
        .await
        .expect("fetch")
        .into_inner();
    let values = reply
        .records
        .into_iter()
        .map(|r| (r.offset, r.value.unwrap_or_default()))
        .collect();
    (reply.high_watermark, values)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_acknowledges_alone_and_consumers_wait_for_the_majority() {
    let mut cluster = TestCluster::start(3);
    cluster.create_topic(1, TOPIC, 1, 3).await;
    cluster.produce_each(1, TOPIC, 1, 5).await;
    let leader = cluster.leader_of(TOPIC, 0).await;
    let mut client = cluster.client_of(leader).await;
    let followers: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();

    // An unknown level is refused, and writes nothing.
    let mut bad = request(b"bad", pb::Acks::Leader);
    bad.acks = 7;
    let status = client
        .event_log
        .produce(bad)
        .await
        .expect_err("unknown acks");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status}");
    assert!(status.message().contains("acks"), "{status}");

    let (before, _) = visible(&mut client).await;
    for id in &followers {
        cluster.signal(*id, "STOP");
    }
    // With both followers paused no majority can hold the batch: only the leader's own
    // log can. The bound is longer than the 10 s after which acks=all gives up.
    let answer = tokio::time::timeout(
        Duration::from_secs(30),
        client
            .event_log
            .produce(request(b"leader-only", pb::Acks::Leader)),
    )
    .await
    .expect("answered within 30 s");
    let seen_while_paused = visible(&mut client).await;
    for id in &followers {
        cluster.signal(*id, "CONT");
    }
    let appended = answer.expect("acks=leader is acknowledged by the leader alone");
    let appended = appended.into_inner().partitions;
    assert_eq!(appended.len(), 1);
    let offset = appended[0].base_offset;
    assert!(
        offset >= before,
        "{offset} lies after the committed records"
    );
    let (watermark, values) = seen_while_paused;
    assert_eq!(
        watermark, before,
        "not committed while the followers were paused"
    );
    assert_eq!(
        values.len(),
        5,
        "consumers do not see it before it is committed"
    );

    // Once the followers are back the batch commits and consumers see it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (watermark, values) = visible(&mut client).await;
        if watermark > offset {
            let found = values.iter().find(|(o, _)| *o == offset);
            assert_eq!(
                found.map(|(_, v)| v.as_ref()),
                Some(&b"leader-only"[..]),
                "the acknowledged offset holds the batch"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the batch was not committed within 30 s of the followers' return"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A produce sent to a follower is forwarded with its level.
    let mut via_follower = cluster.client_of(followers[0]).await;
    let appended = via_follower
        .event_log
        .produce(request(b"forwarded", pb::Acks::Leader))
        .await
        .expect("forwarded acks=leader produce")
        .into_inner();
    assert!(appended.partitions[0].base_offset > offset);
}
