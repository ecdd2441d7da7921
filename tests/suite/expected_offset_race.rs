//! Optimistic concurrency: of concurrent produces that all expect the same next offset,
//! exactly one wins; every loser gets FAILED_PRECONDITION carrying the actual next offset.

use crate::common;

use common::{TestServer, create_topic, fetch_all, record, value_text};
use eventlog::proto::v1 as pb;
use eventlog::service::status::NEXT_OFFSET_METADATA;

const RACERS: usize = 8;
const ROUNDS: u64 = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_appends_with_one_expectation_have_exactly_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "ledger", 1).await;

    for round in 0..ROUNDS {
        let mut racers = Vec::new();
        for racer in 0..RACERS {
            let mut client = client.clone();
            racers.push(tokio::spawn(async move {
                let request = pb::ProduceRequest {
                    topic: "ledger".into(),
                    partition: Some(0),
                    records: vec![record(None, Some(&format!("round {round} racer {racer}")))],
                    expected_next_offset: Some(round),
                    ..Default::default()
                };
                client.event_log.produce(request).await
            }));
        }
        let mut winners = 0;
        for racer in racers {
            match racer.await.unwrap() {
                Ok(reply) => {
                    winners += 1;
                    assert_eq!(reply.into_inner().partitions[0].base_offset, round);
                }
                Err(status) => {
                    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
                    let actual = status
                        .metadata()
                        .get(NEXT_OFFSET_METADATA)
                        .expect("next offset trailer");
                    assert_eq!(actual.to_str().unwrap(), (round + 1).to_string());
                    assert!(
                        status.message().contains(&(round + 1).to_string()),
                        "{}",
                        status.message()
                    );
                }
            }
        }
        assert_eq!(winners, 1, "round {round}");
    }

    let stored = fetch_all(&mut client, "ledger", 0, 0).await;
    assert_eq!(stored.len() as u64, ROUNDS);
    for (round, record) in stored.iter().enumerate() {
        assert!(value_text(record).starts_with(&format!("round {round} ")));
    }
    server.stop().await;
}
