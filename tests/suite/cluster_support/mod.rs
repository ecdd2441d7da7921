//! Clusters of the real `eventlog` binary on loopback for tests: start, kill -9,
//! restart, cut off from each other, and ask any node what the cluster looks like.

#![allow(dead_code)]

pub mod proxy;
pub mod replicas;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use eventlog::client::{Client, ConnectOptions};
use eventlog::proto::v1 as pb;

/// One node process.
pub struct NodeProcess {
    /// Its id.
    pub id: u64,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its data directory.
    pub dir: PathBuf,
    /// The port of its HTTP API on 127.0.0.1, served when the cluster was started
    /// with [`TestCluster::start_with_http`].
    pub http_port: u16,
    /// `https` when the cluster serves TLS, else `http`.
    scheme: &'static str,
    /// Started with `--join` (added after the bootstrap) rather than `--cluster`.
    joined: bool,
    child: Option<Child>,
}

impl NodeProcess {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
    }

    /// Whether the process runs.
    pub fn running(&self) -> bool {
        self.child.is_some()
    }
}

/// A cluster of node processes.
pub struct TestCluster {
    /// The nodes, in id order (id = position + 1).
    pub nodes: Vec<NodeProcess>,
    bootstrap: String,
    root: Option<tempfile::TempDir>,
    /// Flags added to every node's command line.
    extra_args: Vec<String>,
    /// How clients connect (TLS, token).
    options: ConnectOptions,
    /// Whether nodes serve the HTTP API.
    http: bool,
    /// The proxies nodes reach each other through, when the cluster can be partitioned.
    mesh: Option<proxy::ProxyMesh>,
}

/// A port free on 127.0.0.1 and not handed out before in this test process: the
/// system may offer a port again as soon as its probe socket closes, and two nodes
/// of one cluster given the same address would each take the other for itself.
fn free_port() -> u16 {
    static ISSUED: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut issued = ISSUED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !issued.contains(&port) {
            issued.push(port);
            return port;
        }
    }
}

impl TestCluster {
    /// Starts `n` nodes that bootstrap one cluster.
    pub fn start(n: u64) -> TestCluster {
        TestCluster::start_with(n, &[])
    }

    /// Starts `n` nodes that bootstrap one cluster, each also given `extra_args`.
    pub fn start_with(n: u64, extra_args: &[&str]) -> TestCluster {
        TestCluster::start_secured(n, extra_args, ConnectOptions::default())
    }

    /// Starts `n` nodes that bootstrap one cluster, each also serving the HTTP API on
    /// its `http_port`.
    pub fn start_with_http(n: u64) -> TestCluster {
        let mut cluster = TestCluster::assemble(n, &[], ConnectOptions::default());
        cluster.http = true;
        for id in 1..=n {
            cluster.restart(id);
        }
        cluster
    }

    /// Starts `n` nodes given `extra_args`, which clients reach with `options` (over
    /// TLS when they carry a CA).
    pub fn start_secured(n: u64, extra_args: &[&str], options: ConnectOptions) -> TestCluster {
        let mut cluster = TestCluster::assemble(n, extra_args, options);
        for id in 1..=n {
            cluster.restart(id);
        }
        cluster
    }

    /// Starts `n` nodes that reach each other only through proxies, so that
    /// [`TestCluster::isolate`] can cut a node off; call within a Tokio runtime.
    pub fn start_partitionable(n: u64) -> TestCluster {
        let mut cluster = TestCluster::assemble(n, &[], ConnectOptions::default());
        let ports: Vec<(u64, u16)> = cluster.nodes.iter().map(|n| (n.id, n.port)).collect();
        cluster.mesh = Some(proxy::ProxyMesh::start(&ports));
        for id in 1..=n {
            cluster.restart(id);
        }
        cluster
    }

    /// Cuts node `id` off from every other node, both directions, until
    /// [`TestCluster::heal`]; clients still reach it.
    pub fn isolate(&self, id: u64) {
        self.mesh().isolate(id);
    }

    /// Ends every cut between nodes.
    pub fn heal(&self) {
        self.mesh().heal();
    }

    fn mesh(&self) -> &proxy::ProxyMesh {
        self.mesh
            .as_ref()
            .expect("a cluster started with TestCluster::start_partitionable")
    }

    /// A cluster of `n` nodes of which only those in `started` run yet; the others
    /// start later with [`TestCluster::restart`], on empty directories.
    pub fn start_some(n: u64, started: &[u64]) -> TestCluster {
        let mut cluster = TestCluster::assemble(n, &[], ConnectOptions::default());
        for id in started {
            cluster.restart(*id);
        }
        cluster
    }

    /// The nodes' ports, directories and flags, none started.
    fn assemble(n: u64, extra_args: &[&str], options: ConnectOptions) -> TestCluster {
        let scheme = if options.tls_ca.is_some() {
            "https"
        } else {
            "http"
        };
        let root = tempfile::Builder::new()
            .prefix("cluster-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap();
        let nodes: Vec<NodeProcess> = (1..=n)
            .map(|id| NodeProcess {
                id,
                port: free_port(),
                dir: root.path().join(format!("node-{id}")),
                http_port: free_port(),
                scheme,
                joined: false,
                child: None,
            })
            .collect();
        let bootstrap = nodes
            .iter()
            .map(|n| format!("{}=127.0.0.1:{}", n.id, n.port))
            .collect::<Vec<_>>()
            .join(",");
        TestCluster {
            nodes,
            bootstrap,
            root: Some(root),
            extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
            options,
            http: false,
            mesh: None,
        }
    }

    fn node(&mut self, id: u64) -> &mut NodeProcess {
        &mut self.nodes[(id - 1) as usize]
    }

    /// Starts a new node with the next id and `--join`, which waits to be added with
    /// `AddNode`; returns its id.
    pub fn start_joining(&mut self) -> u64 {
        let id = self.nodes.len() as u64 + 1;
        let root = self.root.as_ref().expect("the cluster's directory").path();
        let scheme = self.nodes[0].scheme;
        self.nodes.push(NodeProcess {
            id,
            port: free_port(),
            dir: root.join(format!("node-{id}")),
            http_port: free_port(),
            scheme,
            joined: true,
            child: None,
        });
        self.restart(id);
        id
    }

    /// Starts (again) node `id` on its port and directory.
    pub fn restart(&mut self, id: u64) {
        let bootstrap = self.bootstrap.clone();
        let mut extra_args = self.extra_args.clone();
        if self.http {
            let http = format!("127.0.0.1:{}", self.node(id).http_port);
            extra_args.extend(["--http-listen".to_string(), http]);
        }
        let routes = self.mesh.as_ref().map(|mesh| mesh.routes_of(id));
        let node = self.node(id);
        assert!(node.child.is_none(), "node {id} runs already");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.dir.with_extension("log"))
            .unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_eventlog"));
        if let Some(routes) = routes {
            command.env("EVENTLOG_PEER_ROUTES", routes);
        }
        let child = command
            .arg("serve")
            .args(["--data-dir", node.dir.to_str().unwrap()])
            .args(["--listen", &format!("127.0.0.1:{}", node.port)])
            .args(["--node-id", &id.to_string()])
            .args(match node.joined {
                true => vec!["--join".to_string()],
                false => vec!["--cluster".to_string(), bootstrap],
            })
            .args([
                "--raft-heartbeat",
                "100ms",
                "--raft-election-timeout",
                "500ms",
            ])
            .args(["--shutdown-grace", "1s", "--scrub-rate", "0"])
            .args(&extra_args)
            .env("RUST_LOG", "info,openraft=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn eventlog serve");
        node.child = Some(child);
    }

    /// Kills node `id` with SIGKILL and waits for it to be gone.
    pub fn kill(&mut self, id: u64) {
        if let Some(mut child) = self.node(id).child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Kills node `id` and empties its data directory, as a lost disk would.
    pub fn wipe(&mut self, id: u64) {
        self.kill(id);
        let dir = self.node(id).dir.clone();
        std::fs::remove_dir_all(&dir).expect("wipe the data directory");
        std::fs::create_dir(&dir).expect("an empty data directory");
    }

    /// Waits up to `limit` for node `id`'s process to exit by itself; its exit status,
    /// or `None` while it still runs.
    pub fn wait_exit(&mut self, id: u64, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        let node = self.node(id);
        loop {
            let child = node.child.as_mut()?;
            if let Some(status) = child.try_wait().unwrap() {
                node.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `signal` (for example `STOP` or `CONT`) to node `id`'s process.
    pub fn signal(&mut self, id: u64, signal: &str) {
        let pid = self.node(id).child.as_ref().map(Child::id);
        if let Some(pid) = pid {
            let status = Command::new("kill")
                .args([format!("-{signal}"), pid.to_string()])
                .status()
                .unwrap();
            assert!(status.success(), "kill -{signal} {pid}");
        }
    }

    /// Every node's address, comma-separated, for a client that fails over.
    pub fn addresses(&self) -> String {
        self.nodes
            .iter()
            .map(NodeProcess::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A client of node `id` alone, once it answers.
    pub async fn client_of(&self, id: u64) -> Client {
        let url = self.nodes[(id - 1) as usize].url();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match Client::connect_with(&url, &self.options).await {
                Ok(client) => return client,
                Err(error) if Instant::now() > deadline => panic!("node {id}: {error}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Creates `name` through node `via`, retrying while the cluster forms.
    pub async fn create_topic(
        &self,
        via: u64,
        name: &str,
        partitions: u32,
        replication_factor: u32,
    ) {
        self.create_topic_with(via, name, partitions, replication_factor, None)
            .await;
    }

    /// [`TestCluster::create_topic`] with `config`.
    pub async fn create_topic_with(
        &self,
        via: u64,
        name: &str,
        partitions: u32,
        replication_factor: u32,
        config: Option<pb::TopicConfig>,
    ) {
        let mut client = self.client_of(via).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let request = pb::CreateTopicRequest {
                name: name.into(),
                partitions,
                replication_factor,
                config,
            };
            match client.admin.create_topic(request).await {
                Ok(_) => return,
                Err(status) if Instant::now() < deadline => {
                    eprintln!("create topic: {status}; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(status) => panic!("create topic: {status}"),
            }
        }
    }

    /// Produces `count` records ("r0", "r1", ...) to each of `partitions` partitions of
    /// `topic` through node `via`.
    pub async fn produce_each(&self, via: u64, topic: &str, partitions: u32, count: usize) {
        self.produce_each_stamped(via, topic, partitions, count, None)
            .await;
    }

    /// [`TestCluster::produce_each`] with every record stamped `timestamp_ms` (the
    /// server's clock when `None`).
    pub async fn produce_each_stamped(
        &self,
        via: u64,
        topic: &str,
        partitions: u32,
        count: usize,
        timestamp_ms: Option<i64>,
    ) {
        let mut client = self.client_of(via).await;
        for partition in 0..partitions {
            let records = (0..count)
                .map(|i| pb::Record {
                    value: Some(bytes::Bytes::from(format!("r{i}"))),
                    timestamp_ms,
                    ..Default::default()
                })
                .collect();
            client
                .event_log
                .produce(pb::ProduceRequest {
                    topic: topic.into(),
                    partition: Some(partition),
                    records,
                    ..Default::default()
                })
                .await
                .unwrap_or_else(|status| panic!("produce through node {via}: {status}"));
        }
    }

    /// `group`'s positions in `topic` as node `id` answers a client (which asks the
    /// group's coordinator), or with `local` from the node's own group store (a call
    /// marked as forwarded is served where it arrives).
    pub async fn committed(
        &self,
        id: u64,
        group: &str,
        topic: &str,
        local: bool,
    ) -> Vec<pb::GroupPartitionOffset> {
        let mut client = self.client_of(id).await;
        let mut request = tonic::Request::new(pb::GetCommittedOffsetsRequest {
            group: group.into(),
            topic: topic.into(),
        });
        if local {
            let marker = "test".parse().unwrap();
            request
                .metadata_mut()
                .insert(eventlog::service::group_forward::FORWARDED_FOR, marker);
        }
        let reply = client.event_log.get_committed_offsets(request).await;
        reply
            .unwrap_or_else(|status| panic!("committed offsets on node {id}: {status}"))
            .into_inner()
            .partitions
    }

    /// A client of every node, failing over between them.
    pub async fn client(&self) -> Client {
        Client::connect_with(&self.addresses(), &self.options)
            .await
            .unwrap()
    }

    /// Topic `topic` as node `id` describes it.
    pub async fn describe_topic(&self, id: u64, topic: &str) -> pb::TopicSummary {
        let mut client = self.client_of(id).await;
        client
            .admin
            .describe_topic(pb::DescribeTopicRequest { name: topic.into() })
            .await
            .unwrap_or_else(|status| panic!("describe {topic} on node {id}: {status}"))
            .into_inner()
            .topic
            .expect("topic")
    }

    /// The cluster as node `id` describes it.
    pub async fn describe(&self, id: u64) -> pb::DescribeClusterResponse {
        let mut client = self.client_of(id).await;
        client
            .admin
            .describe_cluster(pb::DescribeClusterRequest {})
            .await
            .unwrap()
            .into_inner()
    }

    /// Waits until a running node names a running metadata leader (the groups'
    /// coordinator) and returns it.
    pub async fn metadata_leader(&self) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            for node in self.nodes.iter().filter(|n| n.running()) {
                if let Some(leader) = self.describe(node.id).await.metadata_leader
                    && self.nodes[(leader - 1) as usize].running()
                {
                    return leader;
                }
            }
            assert!(Instant::now() < deadline, "no metadata leader within 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The leader of `topic`/`partition` that node `id` names, if any.
    pub async fn leader_named_by(&self, id: u64, topic: &str, partition: u32) -> Option<u64> {
        let reply = self.describe(id).await;
        reply
            .partitions
            .iter()
            .find(|p| p.topic == topic && p.partition == partition)
            .and_then(|p| p.leader)
    }

    /// Waits until a running node names a leader for `topic`/`partition` and returns it.
    pub async fn leader_of(&self, topic: &str, partition: u32) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            for node in self.nodes.iter().filter(|n| n.running()) {
                let leader = self.leader_named_by(node.id, topic, partition).await;
                if let Some(leader) = leader
                    && self.nodes[(leader - 1) as usize].running()
                {
                    return leader;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no leader of {topic}/{partition} within 30 s");
    }

    /// Waits until every node of `among` names the same leader of `topic`/`partition`,
    /// one of `among`, and returns it: the leader of one side of a partitioned network
    /// once the other nodes of that side follow it.
    pub async fn leader_among(&self, topic: &str, partition: u32, among: &[u64]) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let mut named = Vec::new();
            for id in among {
                named.push(self.leader_named_by(*id, topic, partition).await);
            }
            if let Some(Some(leader)) = named.first().copied()
                && among.contains(&leader)
                && named.iter().all(|n| *n == Some(leader))
            {
                return leader;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("nodes {among:?} agree on no leader of {topic}/{partition} among them within 30 s");
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        // A failed test keeps the nodes' directories and logs to look at.
        if std::thread::panicking()
            && let Some(root) = self.root.take()
        {
            eprintln!(
                "cluster directories and logs kept in {}",
                root.keep().display()
            );
        }
    }
}
