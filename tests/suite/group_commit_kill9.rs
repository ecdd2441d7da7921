//! Acknowledged consumer-group commits survive a `kill -9` of the real server binary,
//! and a commit made after the restart builds on them.

use crate::common;

use common::{BinaryServer, commit, committed_offsets, connect, create_topic, produce, record};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_commits_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = BinaryServer::start(dir.path());
    let mut client = connect(&server.url).await;
    create_topic(&mut client, "events", 2).await;
    for partition in 0..2 {
        let records = (0..20).map(|_| record(None, Some("x"))).collect();
        produce(&mut client, "events", Some(partition), records).await;
    }
    // Many acknowledged commits; the last of each partition is what must survive.
    for next in 1..=15 {
        commit(&mut client, "audit", "events", &[(0, next), (1, 20 - next)])
            .await
            .expect("commit");
    }
    commit(&mut client, "other", "events", &[(1, 3)])
        .await
        .expect("commit");

    // SIGKILL: no shutdown, no final sync.
    server.child.kill().expect("kill -9");
    server.child.wait().expect("wait");
    drop(server);

    let server = BinaryServer::start(dir.path());
    let mut client = connect(&server.url).await;
    assert_eq!(
        committed_offsets(&mut client, "audit", "events").await,
        [Some(15), Some(5)]
    );
    assert_eq!(
        committed_offsets(&mut client, "other", "events").await,
        [None, Some(3)]
    );
    commit(&mut client, "audit", "events", &[(0, 16)])
        .await
        .expect("commit after the restart");
    assert_eq!(
        committed_offsets(&mut client, "audit", "events").await,
        [Some(16), Some(5)]
    );
    server.stop();
}
