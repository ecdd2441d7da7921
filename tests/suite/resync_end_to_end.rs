//! Through the real server: a record whose value holds a valid batch claiming offset
//! 2^62, the batch around it damaged, and a `kill -9`. After the restart the partition's
//! offsets continue where the log really was, and produce keeps working.

use crate::common;

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;

use bytes::Bytes;
use common::{BinaryServer, connect, create_topic, produce, record};
use eventlog::storage::Record;
use eventlog::storage::batch::v2::{BATCH_LENGTH, CRC, LOG_OVERHEAD};
use eventlog::storage::batch::{self, BatchFormat};

/// A valid encoded batch claiming offset 2^62.
fn forged_batch() -> Vec<u8> {
    let inner = Record {
        value: Some(b"forged".to_vec().into()),
        ..Record::default()
    };
    let mut buf = Vec::new();
    batch::encode(BatchFormat::V2, &mut buf, std::iter::once((0u32, &inner))).unwrap();
    batch::seal(BatchFormat::V2, &mut buf, 1 << 62);
    buf
}

/// Flips the CRC of the second batch of `segment`.
fn damage_second_batch(segment: &std::path::Path) {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(segment)
        .unwrap();
    let mut length = [0u8; 4];
    file.read_exact_at(&mut length, 16 + BATCH_LENGTH as u64)
        .unwrap();
    let second = 16 + LOG_OVERHEAD as u64 + u64::from(u32::from_be_bytes(length));
    let mut crc = [0u8; 4];
    file.read_exact_at(&mut crc, second + CRC as u64).unwrap();
    crc[0] ^= 0xff;
    file.write_all_at(&crc, second + CRC as u64).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_batch_in_a_damaged_value_does_not_move_the_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = BinaryServer::start_with(dir.path(), &["--fsync", "always"], "info");
    let mut client = connect(&server.url).await;
    create_topic(&mut client, "forge", 1).await;
    produce(&mut client, "forge", Some(0), vec![record(None, Some("a"))]).await;
    let mut holder = record(None, None);
    holder.value = Some(Bytes::from(forged_batch()));
    produce(&mut client, "forge", Some(0), vec![holder]).await;
    produce(&mut client, "forge", Some(0), vec![record(None, Some("c"))]).await;
    server.child.kill().expect("kill -9");
    server.child.wait().expect("wait");
    drop(server);

    damage_second_batch(&dir.path().join("topics/forge/0/00000000000000000000.log"));
    let server = BinaryServer::start_with(dir.path(), &["--fsync", "always"], "info");
    let mut client = connect(&server.url).await;
    let reply = produce(&mut client, "forge", Some(0), vec![record(None, Some("d"))]).await;
    assert_eq!(reply.partitions[0].base_offset, 3, "{reply:?}");
    server.stop();
}
