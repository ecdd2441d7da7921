//! Lag = high watermark − max(committed, log start): right after produce, after a
//! commit, and after retention deleted the segments below the committed offset. The
//! retention step calls the storage engine's hook on the stopped server's partition
//! directly, so this test does not depend on the background retention schedule.

use crate::common;

use bytes::Bytes;
use common::{SMALL_SEGMENT, TestServer, commit, committed, create_topic, produce, record};
use eventlog::proto::v1 as pb;
use eventlog::storage::{Log, LogConfig, LogIdent};

/// Records of 64 KiB, so a few dozen fill several 1 MiB segments.
fn big_record() -> pb::Record {
    pb::Record {
        value: Some(Bytes::from(vec![b'v'; 64 << 10])),
        ..record(None, None)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_follows_produce_commit_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "metrics", 2).await;
    for _ in 0..5 {
        produce(
            &mut client,
            "metrics",
            Some(0),
            (0..10).map(|_| big_record()).collect(),
        )
        .await;
    }
    produce(
        &mut client,
        "metrics",
        Some(1),
        vec![record(None, Some("a")); 3],
    )
    .await;

    // Right after produce: nothing committed, everything is lag.
    let before = committed(&mut client, "dashboards", "metrics").await;
    assert_eq!(before.iter().map(|p| p.lag).collect::<Vec<_>>(), [50, 3]);
    assert!(before.iter().all(|p| p.next_offset.is_none()));

    // After a commit: the rest.
    commit(&mut client, "dashboards", "metrics", &[(0, 5), (1, 3)])
        .await
        .expect("commit");
    let after = committed(&mut client, "dashboards", "metrics").await;
    assert_eq!(after.iter().map(|p| p.lag).collect::<Vec<_>>(), [45, 0]);
    assert_eq!(after[0].high_watermark, 50);
    assert_eq!(after[0].log_start_offset, 0);
    server.stop().await;

    // Retention deletes whole sealed segments below offset 40 of partition 0.
    let partition_dir = dir.path().join("topics/metrics/0");
    let config = LogConfig {
        segment_bytes: SMALL_SEGMENT,
        ..LogConfig::default()
    };
    let log = Log::open(&partition_dir, LogIdent::new("metrics", 0), config).expect("open log");
    let deleted = log.delete_segments_below(40).expect("delete segments");
    log.close().expect("close log");
    let log_start = deleted.log_start_offset;
    assert!(
        log_start > 5 && log_start <= 40,
        "segments below the commit were deleted: log start {log_start}"
    );

    // The commit now lies below the log start: lag counts from the log start.
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    let retained = committed(&mut client, "dashboards", "metrics").await;
    assert_eq!(retained[0].next_offset, Some(5));
    assert_eq!(retained[0].log_start_offset, log_start);
    assert_eq!(retained[0].lag, 50 - log_start);

    // A commit below the log start is accepted and reported as such.
    let reply = commit(&mut client, "dashboards", "metrics", &[(0, 2)])
        .await
        .expect("commit below the log start");
    assert!(reply.partitions[0].below_log_start);
    assert_eq!(reply.partitions[0].log_start_offset, log_start);
    server.stop().await;
}
