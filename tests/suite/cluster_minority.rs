//! A partition leader cut off from its majority cannot commit, and may not know yet that
//! it no longer leads: a produce sent to it, by a client that set no deadline, is
//! answered UNAVAILABLE once the proposal times out rather than left hanging for as
//! long as the cut lasts.

use crate::cluster_support;

use std::time::Duration;

use cluster_support::TestCluster;
use eventlog::proto::v1 as pb;

const TOPIC: &str = "cut";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_without_its_majority_answers_unavailable_instead_of_hanging() {
    let mut cluster = TestCluster::start(3);
    cluster.create_topic(1, TOPIC, 1, 3).await;
    cluster.produce_each(1, TOPIC, 1, 5).await;
    let leader = cluster.leader_of(TOPIC, 0).await;
    let mut client = cluster.client_of(leader).await;
    let followers: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
    for id in &followers {
        cluster.signal(*id, "STOP");
    }
    let request = pb::ProduceRequest {
        topic: TOPIC.into(),
        partition: Some(0),
        records: vec![pb::Record {
            value: Some(bytes::Bytes::from_static(b"unanswerable")),
            ..Default::default()
        }],
        ..Default::default()
    };
    // No deadline on the call itself; the bound here only keeps a hanging server from
    // hanging the test.
    let answer = tokio::time::timeout(Duration::from_secs(60), client.event_log.produce(request))
        .await
        .expect("the produce is answered within 60 s");
    for id in &followers {
        cluster.signal(*id, "CONT");
    }
    let status = answer.expect_err("no majority, no acknowledgement");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status}");
    assert!(
        status.message().contains("within 10 s"),
        "the message says what happened: {status}"
    );
    // The cluster serves again once the majority is back.
    cluster.produce_each(leader, TOPIC, 1, 1).await;
}
