//! A network partition in a three-node cluster of the real binary on loopback: the
//! nodes reach each other only through proxies (one per ordered pair of nodes), and
//! the test cuts the leader of a partition off from both other nodes while clients
//! still reach every node. The cut-off side, a minority, acknowledges nothing; the
//! other two nodes elect a leader and acknowledge produces through either of them;
//! after healing, every replica holds exactly the acknowledged records, each once, at
//! its acknowledged offset, byte for byte, and none of the refused ones.

use crate::cluster_support;

use std::time::Duration;

use bytes::Bytes;
use cluster_support::TestCluster;
use cluster_support::replicas::{self, Records};
use eventlog::proto::v1 as pb;
use tonic::Status;

const TOPIC: &str = "ledger";

/// Longest a produce to the majority side may take: a leader change and a retry.
const MAJORITY_DEADLINE: Duration = Duration::from_secs(15);

/// The server's own bound on a proposal (10 s), and some slack to answer.
const SERVER_ANSWER_WITHIN: Duration = Duration::from_secs(20);

/// Produces one record holding `value` to partition 0 through node `via` alone, with
/// `deadline` when given (else the server decides when to give up); returns its offset.
async fn produce(
    cluster: &TestCluster,
    via: u64,
    value: &str,
    deadline: Option<Duration>,
) -> Result<u64, Status> {
    let mut client = cluster.client_of(via).await;
    let mut request = tonic::Request::new(pb::ProduceRequest {
        topic: TOPIC.into(),
        partition: Some(0),
        records: vec![pb::Record {
            value: Some(Bytes::copy_from_slice(value.as_bytes())),
            ..Default::default()
        }],
        ..Default::default()
    });
    if let Some(deadline) = deadline {
        request.set_timeout(deadline);
    }
    let reply = client.event_log.produce(request).await?.into_inner();
    let append = reply
        .partitions
        .first()
        .expect("the reply names the partition");
    Ok(append.base_offset)
}

/// Produces `value` through `via`, which must acknowledge it; records where it landed.
async fn produce_acknowledged(
    cluster: &TestCluster,
    via: u64,
    value: &str,
    acknowledged: &mut Records,
) {
    let offset = produce(cluster, via, value, Some(MAJORITY_DEADLINE))
        .await
        .unwrap_or_else(|status| panic!("produce {value:?} through node {via}: {status}"));
    let previous = acknowledged.insert((0, offset), Bytes::copy_from_slice(value.as_bytes()));
    assert!(
        previous.is_none(),
        "two acknowledgements for offset {offset}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cut_off_leader_acknowledges_nothing_while_the_majority_goes_on() {
    let cluster = TestCluster::start_partitionable(3);
    cluster.create_topic(1, TOPIC, 1, 3).await;
    let mut acknowledged = Records::new();
    for via in 1..=3 {
        produce_acknowledged(
            &cluster,
            via,
            &format!("before-via-{via}"),
            &mut acknowledged,
        )
        .await;
    }
    let old = cluster.leader_among(TOPIC, 0, &[1, 2, 3]).await;
    let majority: Vec<u64> = (1..=3).filter(|id| *id != old).collect();
    eprintln!("cutting node {old}, leader of {TOPIC}/0, off from nodes {majority:?}");
    cluster.isolate(old);

    // A produce with no deadline of its own: the cut-off leader must answer it by
    // itself, with an error, while the cut lasts.
    let unbounded = {
        let mut client = cluster.client_of(old).await;
        tokio::spawn(async move {
            let request = pb::ProduceRequest {
                topic: TOPIC.into(),
                partition: Some(0),
                records: vec![pb::Record {
                    value: Some(Bytes::from_static(b"isolated-unbounded")),
                    ..Default::default()
                }],
                ..Default::default()
            };
            client.event_log.produce(request).await
        })
    };
    let mut refused = vec!["isolated-unbounded".to_string()];

    // (a) The cut-off leader does not acknowledge a produce within its deadline.
    let value = "isolated-with-deadline";
    let answer = produce(&cluster, old, value, Some(Duration::from_secs(3))).await;
    match answer {
        Ok(offset) => panic!("the cut-off node {old} acknowledged {value:?} at offset {offset}"),
        Err(status) => eprintln!("the cut-off node refused {value:?}: {status}"),
    }
    refused.push(value.to_string());

    // (b) The other two elect a leader among them and acknowledge through either.
    let new = cluster.leader_among(TOPIC, 0, &majority).await;
    eprintln!("nodes {majority:?} follow node {new}");
    for via in &majority {
        for i in 0..3 {
            let value = format!("majority-via-{via}-{i}");
            produce_acknowledged(&cluster, *via, &value, &mut acknowledged).await;
        }
    }

    // The produce without a deadline is answered, with an error, while still cut.
    let answer = tokio::time::timeout(SERVER_ANSWER_WITHIN, unbounded)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the cut-off node {old} answered no produce within {SERVER_ANSWER_WITHIN:?} \
                 (its proposal timeout is 10 s)"
            )
        })
        .expect("the producing task");
    match answer {
        Ok(reply) => panic!("the cut-off node {old} acknowledged a produce: {reply:?}"),
        Err(status) => {
            eprintln!("the cut-off node answered the produce without a deadline: {status}");
            assert_eq!(status.code(), tonic::Code::Unavailable, "{status}");
        }
    }

    // (c) Healed: the old leader follows, forwards, and every replica converges on
    // exactly the acknowledged records.
    cluster.heal();
    for via in 1..=3 {
        produce_acknowledged(
            &cluster,
            via,
            &format!("healed-via-{via}"),
            &mut acknowledged,
        )
        .await;
    }
    let stored = replicas::check_replicas(&cluster, TOPIC, 1, &acknowledged).await;
    for value in &refused {
        assert!(
            !stored.values().any(|v| v == value.as_bytes()),
            "the refused record {value:?} is stored"
        );
    }
}
