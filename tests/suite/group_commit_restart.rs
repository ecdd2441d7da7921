//! Consumer-group commits survive a graceful server restart, and a group subscription
//! then resumes exactly after the last commit, in order.

use crate::common;

use common::{
    TestServer, commit, committed_offsets, create_topic, group_subscribe_request, produce,
    read_until_caught_up, record, value_text,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_survive_a_restart_and_the_group_resumes_after_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    create_topic(&mut client, "jobs", 1).await;
    let values: Vec<String> = (0..10).map(|i| format!("job-{i}")).collect();
    let records = values.iter().map(|v| record(None, Some(v))).collect();
    produce(&mut client, "jobs", Some(0), records).await;

    // The handler processed jobs 0..=3, then commits "next is 4".
    let reply = commit(&mut client, "workers", "jobs", &[(0, 4)])
        .await
        .expect("commit");
    assert_eq!(reply.partitions[0].next_offset, 4);
    assert!(!reply.partitions[0].below_log_start);
    server.stop().await;

    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    assert_eq!(
        committed_offsets(&mut client, "workers", "jobs").await,
        [Some(4)]
    );
    let mut stream = client
        .event_log
        .subscribe(group_subscribe_request("jobs", "workers"))
        .await
        .expect("subscribe from the group")
        .into_inner();
    let resumed: Vec<String> = read_until_caught_up(&mut stream)
        .await
        .iter()
        .map(value_text)
        .collect();
    assert_eq!(resumed, values[4..]);
    drop(stream);
    server.stop().await;
}
