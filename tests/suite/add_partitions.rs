//! Adding partitions to a topic on a single node, through the gRPC `CreatePartitions`
//! and `eventlog topic add-partitions`: records stay where they were, new partitions
//! start empty, keyed records follow murmur2 over the new count, and bad requests get
//! their status (and one error line from the CLI) while nothing changes.

use crate::common;

use common::{TestServer, create_topic, fetch_all, produce, record, run_cli};
use eventlog::broker::partitioner::Partitioner;
use eventlog::client::Client;
use eventlog::proto::v1 as pb;
use tonic::Code;

async fn partitions_of(client: &mut Client, topic: &str) -> u32 {
    client
        .admin
        .describe_topic(pb::DescribeTopicRequest { name: topic.into() })
        .await
        .expect("describe")
        .into_inner()
        .topic
        .expect("topic")
        .partitions
}

async fn add(
    client: &mut Client,
    topic: &str,
    partitions: u32,
    validate_only: bool,
) -> Result<pb::TopicSummary, tonic::Status> {
    client
        .admin
        .create_partitions(pb::CreatePartitionsRequest {
            name: topic.into(),
            partitions,
            validate_only,
        })
        .await
        .map(|reply| reply.into_inner().topic.expect("topic"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_are_added_over_grpc_and_bad_counts_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "orders", 2).await;
    for partition in 0..2 {
        produce(
            &mut client,
            "orders",
            Some(partition),
            vec![record(Some("k"), Some("old"))],
        )
        .await;
    }

    for (count, code) in [
        (2, Code::InvalidArgument),
        (1, Code::InvalidArgument),
        (1025, Code::InvalidArgument),
    ] {
        let status = add(&mut client, "orders", count, false)
            .await
            .expect_err("refused");
        assert_eq!(status.code(), code, "{count}: {status:?}");
        assert!(status.message().contains("orders"), "{}", status.message());
    }
    let missing = add(&mut client, "missing", 3, false)
        .await
        .expect_err("missing");
    assert_eq!(missing.code(), Code::NotFound);
    let bad = add(&mut client, "bad/name", 3, false)
        .await
        .expect_err("bad name");
    assert_eq!(bad.code(), Code::InvalidArgument);
    let checked = add(&mut client, "orders", 5, true).await.expect("validate");
    assert_eq!(checked.partitions, 5);
    assert_eq!(partitions_of(&mut client, "orders").await, 2);

    let grown = add(&mut client, "orders", 5, false).await.expect("grow");
    assert_eq!(grown.partitions, 5);
    assert_eq!(partitions_of(&mut client, "orders").await, 5);
    for partition in 0..2 {
        let kept = fetch_all(&mut client, "orders", partition, 0).await;
        assert_eq!(kept.len(), 1, "partition {partition} keeps its record");
        assert_eq!(kept[0].value.as_deref(), Some(&b"old"[..]));
    }
    for partition in 2..5 {
        assert!(
            fetch_all(&mut client, "orders", partition, 0)
                .await
                .is_empty()
        );
    }
    // Keyed records now spread over five partitions, as Kafka's partitioner would.
    let keys: Vec<String> = (0..20).map(|i| format!("customer-{i}")).collect();
    let records = keys.iter().map(|k| record(Some(k), Some("new"))).collect();
    let reply = produce(&mut client, "orders", None, records).await;
    let placer = Partitioner::new(5);
    let mut expected: Vec<u32> = keys
        .iter()
        .map(|k| placer.partition_for(Some(k.as_bytes())))
        .collect();
    expected.sort_unstable();
    expected.dedup();
    let mut placed: Vec<u32> = reply.partitions.iter().map(|r| r.partition).collect();
    placed.sort_unstable();
    assert_eq!(placed, expected);
    assert!(
        placed.iter().any(|p| *p >= 2),
        "some keys reach new partitions"
    );
    server.stop().await;

    // The new count and every record survive a restart.
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    assert_eq!(partitions_of(&mut client, "orders").await, 5);
    let mut total = 0;
    for partition in 0..5 {
        total += fetch_all(&mut client, "orders", partition, 0).await.len();
    }
    assert_eq!(total, 22);
    server.stop().await;
}

/// Runs the CLI off the runtime's workers (it is a blocking child process).
async fn cli(url: &str, args: &[&str]) -> std::process::Output {
    let url = url.to_string();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_cli(&url, &args)
    })
    .await
    .expect("cli task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_adds_partitions_and_reports_refusals_in_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "audit", 1).await;
    let url = server.url();

    let dry = cli(
        &url,
        &[
            "topic",
            "add-partitions",
            "audit",
            "--partitions",
            "3",
            "--dry-run",
        ],
    )
    .await;
    assert!(dry.status.success(), "{dry:?}");
    assert!(String::from_utf8_lossy(&dry.stdout).contains("dry run"));
    assert_eq!(partitions_of(&mut client, "audit").await, 1);

    let done = cli(
        &url,
        &["topic", "add-partitions", "audit", "--partitions", "3"],
    )
    .await;
    assert!(done.status.success(), "{done:?}");
    assert_eq!(
        String::from_utf8_lossy(&done.stdout).trim(),
        "topic audit now has 3 partition(s)"
    );
    assert_eq!(partitions_of(&mut client, "audit").await, 3);
    let json = cli(
        &url,
        &[
            "topic",
            "add-partitions",
            "audit",
            "--partitions",
            "4",
            "--format",
            "json",
        ],
    )
    .await;
    let parsed: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(parsed["partitions"], 4);

    for (args, expected) in [
        (
            &["topic", "add-partitions", "audit", "--partitions", "2"][..],
            "INVALID_ARGUMENT",
        ),
        (
            &["topic", "add-partitions", "nope", "--partitions", "2"][..],
            "NOT_FOUND",
        ),
        (
            &["topic", "add-partitions", "audit", "--partitions", "0"][..],
            "--partitions",
        ),
        (&["topic", "add-partitions", "audit"][..], "--partitions"),
    ] {
        let output = cli(&url, args).await;
        assert!(!output.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        if expected.ends_with("ARGUMENT") || expected.ends_with("FOUND") {
            assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
            assert!(stderr.starts_with("error: "), "{stderr}");
        }
    }
    assert_eq!(partitions_of(&mut client, "audit").await, 4);
    server.stop().await;
}
