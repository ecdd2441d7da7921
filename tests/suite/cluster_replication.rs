//! Three replicas of one partition, each a node with its own log and a real gRPC
//! transport on loopback, in one process: batches proposed to the leader are
//! committed by a majority and land byte for byte at the same offsets on every
//! replica; when the leader stops, another takes over with nothing committed lost; a
//! replica that was down catches up when it returns.

use eventlog::broker::Acks;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use eventlog::cluster::network::MAX_MESSAGE_BYTES;
use eventlog::cluster::{ClusterNode, PartitionReplica, RaftTiming, ReplicaError};
use eventlog::proto::cluster::raft_transport_server::RaftTransportServer;
use eventlog::storage::batch::BatchFormat;
use eventlog::storage::batch_v2::{self, BatchMeta};
use eventlog::storage::{Log, LogConfig, LogIdent, Record};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const GROUP: &str = "p/orders/0";

fn timing() -> RaftTiming {
    RaftTiming {
        heartbeat_ms: 50,
        election_min_ms: 300,
        election_max_ms: 600,
    }
}

/// One node: its cluster side, its log, its server.
struct TestNode {
    id: u64,
    addr: String,
    dir: std::path::PathBuf,
    node: Arc<ClusterNode>,
    replica: PartitionReplica,
    log: Arc<Log>,
    stop: CancellationToken,
    server: tokio::task::JoinHandle<()>,
}

async fn start(id: u64, dir: &std::path::Path, listener: TcpListener) -> TestNode {
    start_with(id, dir, listener, LogConfig::default()).await
}

async fn start_with(
    id: u64,
    dir: &std::path::Path,
    listener: TcpListener,
    config: LogConfig,
) -> TestNode {
    let addr = listener.local_addr().unwrap().to_string();
    let node = Arc::new(ClusterNode::new(id, timing(), &Default::default()).unwrap());
    let config = LogConfig {
        batch_format: BatchFormat::V2,
        ..config
    };
    let log = Arc::new(Log::open(dir, LogIdent::new("orders", 0), config).unwrap());
    let (commit, _) = watch::channel(0);
    let replica = node
        .start_partition(GROUP.into(), Arc::clone(&log), commit)
        .await
        .unwrap();
    let stop = CancellationToken::new();
    let service =
        RaftTransportServer::new(node.transport()).max_decoding_message_size(MAX_MESSAGE_BYTES);
    let shutdown = stop.clone();
    let server = tokio::spawn(async move {
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let _ = tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
            .await;
    });
    TestNode {
        id,
        addr,
        dir: dir.to_path_buf(),
        node,
        replica,
        log,
        stop,
        server,
    }
}

impl TestNode {
    async fn stop(self) -> (u64, std::path::PathBuf, String) {
        self.node.shutdown().await;
        self.stop.cancel();
        let _ = self.server.await;
        let log = Arc::try_unwrap(self.log).ok();
        if let Some(log) = log {
            log.close().unwrap();
        }
        (self.id, self.dir, self.addr)
    }
}

fn batch(tag: &str, n: usize) -> Bytes {
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(format!("{tag}-{i}"))),
            timestamp_ms: 1_700_000_000_000,
            ..Record::default()
        })
        .collect();
    let mut buf = Vec::new();
    batch_v2::encode(
        &mut buf,
        records.iter().enumerate().map(|(i, r)| (i as u32, r)),
        &BatchMeta::default(),
    )
    .unwrap();
    Bytes::from(buf)
}

fn members(nodes: &[&TestNode]) -> BTreeMap<u64, openraft::BasicNode> {
    nodes
        .iter()
        .map(|n| (n.id, openraft::BasicNode::new(n.addr.clone())))
        .collect()
}

/// Waits until some node leads the group and returns its position in `nodes`.
async fn leader_of(nodes: &[&TestNode]) -> usize {
    for _ in 0..200 {
        let leaders: Vec<usize> = (0..nodes.len())
            .filter(|&i| nodes[i].replica.leader() == Some(nodes[i].id))
            .collect();
        if let [one] = leaders[..] {
            return one;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no single leader emerged");
}

/// Proposes through whichever node leads, following redirections.
async fn propose(nodes: &[&TestNode], batch: Bytes) -> eventlog::cluster::types::Applied {
    for _ in 0..100 {
        let at = leader_of(nodes).await;
        match nodes[at]
            .replica
            .propose(batch.clone(), Acks::All, None)
            .await
        {
            Ok(applied) => return applied,
            Err(ReplicaError::NotLeader { .. }) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(other) => panic!("propose failed: {other}"),
        }
    }
    panic!("no leader accepted the proposal");
}

/// Waits until every node's commit watermark reaches `offset`.
async fn committed_everywhere(nodes: &[&TestNode], offset: u64) {
    for _ in 0..200 {
        if nodes.iter().all(|n| n.replica.commit_offset() >= offset) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen: Vec<u64> = nodes.iter().map(|n| n.replica.commit_offset()).collect();
    panic!("commit watermarks {seen:?} did not all reach {offset}");
}

/// Every data batch of a log, as (base offset, bytes without the leader epoch).
fn data_batches(log: &Log) -> Vec<(u64, Bytes)> {
    log.read_batches(log.log_start_offset(), usize::MAX, usize::MAX)
        .unwrap()
        .into_iter()
        .filter(|b| !b.header.is_control())
        .map(|b| (b.header.base_offset, b.bytes))
        .collect()
}

async fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn committed_batches_are_identical_on_every_replica_and_survive_a_leader_change() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        nodes.push(start(i as u64 + 1, dir.path(), listener().await).await);
    }
    let all: Vec<&TestNode> = nodes.iter().collect();
    nodes[0].replica.initialize(members(&all)).await.unwrap();

    let mut acknowledged = Vec::new();
    for round in 0..20 {
        let applied = propose(&all, batch(&format!("a{round}"), 5)).await;
        assert_eq!(applied.last_offset - applied.base_offset, 4);
        acknowledged.push(applied);
    }
    let end = acknowledged.last().unwrap().last_offset + 1;
    committed_everywhere(&all, end).await;
    let reference = data_batches(&nodes[0].log);
    assert_eq!(reference.len(), 20);
    for node in &nodes[1..] {
        assert_eq!(
            data_batches(&node.log),
            reference,
            "node {} differs",
            node.id
        );
    }

    // Stop the leader: the other two elect a new one and keep committing.
    let at = leader_of(&all).await;
    let stopped = nodes.remove(at);
    let (old_id, old_dir, old_addr) = stopped.stop().await;
    let rest: Vec<&TestNode> = nodes.iter().collect();
    for round in 0..10 {
        acknowledged.push(propose(&rest, batch(&format!("b{round}"), 3)).await);
    }
    let end = acknowledged.last().unwrap().last_offset + 1;
    committed_everywhere(&rest, end).await;

    // The old leader comes back on its old address and catches up.
    let back = start(
        old_id,
        &old_dir,
        TcpListener::bind(&old_addr).await.unwrap(),
    )
    .await;
    nodes.push(back);
    let all: Vec<&TestNode> = nodes.iter().collect();
    committed_everywhere(&all, end).await;
    let reference = data_batches(&nodes[0].log);
    assert_eq!(reference.len(), 30);
    for node in &nodes[1..] {
        assert_eq!(
            data_batches(&node.log),
            reference,
            "node {} differs",
            node.id
        );
    }
    // Every acknowledged batch is where its acknowledgement said.
    for applied in &acknowledged {
        assert!(
            reference
                .iter()
                .any(|(base, _)| *base == applied.base_offset),
            "acknowledged batch at {} is missing",
            applied.base_offset
        );
    }
    for node in nodes {
        node.stop().await;
    }
}

/// Asks `node`'s group to trim its log below its last sealed segment's end until its
/// log start gets there; returns that log start.
async fn trim_sealed(node: &TestNode) -> u64 {
    let point = node
        .log
        .segment_infos()
        .iter()
        .filter(|s| s.sealed)
        .map(|s| s.next_offset)
        .max()
        .expect("the log has sealed segments");
    for _ in 0..200 {
        node.replica.trim_below(point).await.unwrap();
        if node.log.log_start_offset() >= point {
            return node.log.log_start_offset();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "node {}: the log start stayed at {} below {point}",
        node.id,
        node.log.log_start_offset()
    );
}

/// Asserts that `follower` holds exactly the leader's batches from its own log start.
fn same_tail(leader: &TestNode, follower: &TestNode) {
    let start = follower.log.log_start_offset();
    let expected: Vec<(u64, Bytes)> = data_batches(&leader.log)
        .into_iter()
        .filter(|(base, _)| *base >= start)
        .collect();
    assert!(!expected.is_empty(), "nothing to compare from {start}");
    assert_eq!(
        data_batches(&follower.log),
        expected,
        "node {} differs from the leader from offset {start}",
        follower.id
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retention_purges_through_raft_and_a_follower_left_behind_starts_again_at_the_leaders_snapshot()
 {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        let listener = listener().await;
        nodes.push(start_with(i as u64 + 1, dir.path(), listener, LogConfig::default()).await);
    }
    let all: Vec<&TestNode> = nodes.iter().collect();
    nodes[0].replica.initialize(members(&all)).await.unwrap();
    let mut end = 0;
    for round in 0..40 {
        end = propose(&all, batch(&format!("a{round}"), 20))
            .await
            .last_offset
            + 1;
    }
    committed_everywhere(&all, end).await;
    // Segments roll by size; these few batches would fit one, so roll by hand.
    for node in &nodes {
        node.log.roll().unwrap();
    }

    // A follower stops; the others go on and then apply retention.
    let at = leader_of(&all).await;
    let away = if at == 0 { 1 } else { 0 };
    let stopped = nodes.remove(away);
    let held_when_stopped = stopped.log.next_offset();
    let (id, dir, addr) = stopped.stop().await;
    let rest: Vec<&TestNode> = nodes.iter().collect();
    for round in 0..40 {
        end = propose(&rest, batch(&format!("b{round}"), 20))
            .await
            .last_offset
            + 1;
    }
    committed_everywhere(&rest, end).await;
    for node in &nodes {
        node.log.roll().unwrap();
    }
    for node in &nodes {
        let start = trim_sealed(node).await;
        assert!(
            start > held_when_stopped,
            "node {}: the test needs the log start ({start}) past what the stopped follower holds ({held_when_stopped})",
            node.id
        );
        // Whole segments went: the first one left starts at the log start.
        assert_eq!(node.log.segment_infos()[0].base_offset, start);
    }

    // The follower returns: its leader no longer holds what it lacks, so it is sent
    // the leader's snapshot, starts its log again there and follows from it.
    let back = start_with(
        id,
        &dir,
        TcpListener::bind(&addr).await.unwrap(),
        LogConfig::default(),
    )
    .await;
    nodes.push(back);
    let all: Vec<&TestNode> = nodes.iter().collect();
    committed_everywhere(&all, end).await;
    for round in 0..5 {
        end = propose(&all, batch(&format!("c{round}"), 20))
            .await
            .last_offset
            + 1;
    }
    committed_everywhere(&all, end).await;
    let leader = leader_of(&all).await;
    let returned = nodes.last().unwrap();
    assert!(
        returned.log.log_start_offset() > held_when_stopped,
        "the returned follower's log starts at {}, so it was caught up from the leader's log, not its snapshot",
        returned.log.log_start_offset()
    );
    assert_eq!(returned.log.next_offset(), nodes[leader].log.next_offset());
    same_tail(&nodes[leader], returned);

    // Its new numbering survives a restart.
    let returned = nodes.pop().unwrap();
    let (id, dir, addr) = returned.stop().await;
    let back = start_with(
        id,
        &dir,
        TcpListener::bind(&addr).await.unwrap(),
        LogConfig::default(),
    )
    .await;
    nodes.push(back);
    let all: Vec<&TestNode> = nodes.iter().collect();
    for round in 0..5 {
        end = propose(&all, batch(&format!("d{round}"), 20))
            .await
            .last_offset
            + 1;
    }
    committed_everywhere(&all, end).await;
    let leader = leader_of(&all).await;
    same_tail(&nodes[leader], nodes.last().unwrap());
    for node in nodes {
        node.stop().await;
    }
}
