//! `eventlog verify` meets a segment it cannot read (here a directory in the place of
//! a segment file, whose read fails with `EISDIR` as a bad sector fails with `EIO`):
//! it prints the error with the file, still checks every other segment, and exits
//! non-zero.

use crate::storage_support;

use std::process::Command;

use eventlog::storage::FsyncPolicy;
use storage_support::*;

#[test]
fn verify_prints_an_unreadable_segment_checks_the_rest_and_exits_non_zero() {
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir(data.path().join("topics")).unwrap();
    // The offsets log directory is verified like any partition.
    let dir = data.path().join("groups");
    let log = open(&dir, small_config(FsyncPolicy::Never));
    for b in 0..60 {
        log.append(&batch(b, 20, 2500)).unwrap();
    }
    let segments = log.sealed_segments().len() + 1;
    assert!(segments >= 3, "several segments");
    log.close().unwrap();
    drop(log);
    let broken = segment_path(&dir, 0);
    std::fs::remove_file(&broken).unwrap();
    std::fs::create_dir(&broken).unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_eventlog"))
        .arg("verify")
        .arg("--data-dir")
        .arg(data.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    let line = format!("error: {}: unreadable, segment skipped", broken.display());
    assert!(stdout.contains(&line), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "verified no topics and the consumer-offsets log: {segments} segments"
        )),
        "{stdout}"
    );
}
