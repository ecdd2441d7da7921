//! The serve flags bounding consumer groups: `--max-groups` refuses a commit that would
//! create a group beyond the cap with RESOURCE_EXHAUSTED naming it, and bad values of
//! either flag stop the start with a one-line message.

use crate::common;

use std::process::Command;

use common::{BinaryServer, commit, committed_offsets, connect, create_topic};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_beyond_the_group_cap_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--max-groups", "2", "--group-retention", "30d"];
    let server = BinaryServer::start_with(dir.path(), &args, "info");
    let mut client = connect(&server.url).await;
    create_topic(&mut client, "t", 1).await;
    for group in ["a", "b"] {
        commit(&mut client, group, "t", &[(0, 0)])
            .await
            .expect(group);
    }
    let refused = commit(&mut client, "c", "t", &[(0, 0)])
        .await
        .expect_err("a third group");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    let message = refused.message();
    assert!(
        message.contains("\"c\"")
            && message.contains("limit of 2 groups")
            && message.contains("--max-groups"),
        "{message}"
    );
    assert_eq!(committed_offsets(&mut client, "c", "t").await, [None]);
    // Groups under the cap keep committing.
    commit(&mut client, "a", "t", &[(0, 0)])
        .await
        .expect("existing group");
    server.stop();
}

#[test]
fn bad_group_flags_stop_the_start_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, value) in [("--max-groups", "0"), ("--group-retention", "soon")] {
        let output = Command::new(env!("CARGO_BIN_EXE_eventlog"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                flag,
                value,
                "--data-dir",
            ])
            .arg(dir.path())
            .output()
            .expect("run eventlog");
        assert!(!output.status.success(), "{flag} {value} started");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(flag) && stderr.contains(value),
            "{flag}: {stderr}"
        );
    }
}
