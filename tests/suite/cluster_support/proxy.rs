//! Network partitions between cluster nodes: a TCP proxy per ordered pair of nodes
//! (node i dials node j through proxy i→j, told so by `EVENTLOG_PEER_ROUTES`), each of
//! which a test can cut and heal. Clients still reach every node directly, so a test
//! can talk to a node that its peers cannot reach.
//!
//! A cut closes the link's open connections and black-holes new ones: they are
//! accepted (a partitioned network does not refuse, it stays silent) but nothing is
//! forwarded, so a dialing node learns of the cut only from its own deadlines, as it
//! would across a real partition. Healing closes the black-holed connections, so the
//! dialer reconnects on a clean stream.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A proxy forwarding the connections of one node to another node's port.
pub struct LinkProxy {
    /// Where the dialing node connects.
    pub addr: SocketAddr,
    /// `true` while cut; every connection of the link watches it.
    cut: watch::Sender<bool>,
    accepting: JoinHandle<()>,
}

impl LinkProxy {
    /// A proxy to `upstream`, forwarding until cut; call within a Tokio runtime.
    pub fn start(upstream: SocketAddr) -> LinkProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a proxy");
        listener.set_nonblocking(true).expect("non-blocking proxy");
        let addr = listener.local_addr().expect("proxy address");
        let listener = TcpListener::from_std(listener).expect("proxy listener");
        let (cut, state) = watch::channel(false);
        let accepting = tokio::spawn(accept(listener, upstream, state));
        LinkProxy {
            addr,
            cut,
            accepting,
        }
    }

    /// Closes the open connections and black-holes new ones until [`LinkProxy::heal`].
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Forwards new connections again (and closes the black-holed ones).
    pub fn heal(&self) {
        self.cut.send_replace(false);
    }
}

impl Drop for LinkProxy {
    fn drop(&mut self) {
        // Dropping `cut` ends every connection's wait on it, which closes them.
        self.accepting.abort();
    }
}

async fn accept(listener: TcpListener, upstream: SocketAddr, state: watch::Receiver<bool>) {
    while let Ok((client, _)) = listener.accept().await {
        tokio::spawn(serve(client, upstream, state.clone()));
    }
}

/// Forwards one connection until either side closes or the link is cut.
async fn serve(mut client: TcpStream, upstream: SocketAddr, mut state: watch::Receiver<bool>) {
    if *state.borrow_and_update() {
        let _ = state.wait_for(|cut| !*cut).await;
        return;
    }
    // A node that is down refuses its proxy, which closes the dialer's connection, as
    // the node itself would have.
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = state.wait_for(|cut| *cut) => {}
    }
}

/// One proxy per ordered pair of nodes.
pub struct ProxyMesh {
    links: BTreeMap<(u64, u64), LinkProxy>,
}

impl ProxyMesh {
    /// Proxies between every two of `nodes` (id, port on 127.0.0.1), both directions.
    pub fn start(nodes: &[(u64, u16)]) -> ProxyMesh {
        let mut links = BTreeMap::new();
        for &(from, _) in nodes {
            for &(to, port) in nodes.iter().filter(|(to, _)| *to != from) {
                let upstream = SocketAddr::from(([127, 0, 0, 1], port));
                links.insert((from, to), LinkProxy::start(upstream));
            }
        }
        ProxyMesh { links }
    }

    /// `EVENTLOG_PEER_ROUTES` of node `from`: every peer at its proxy from `from`.
    pub fn routes_of(&self, from: u64) -> String {
        self.links
            .iter()
            .filter(|((f, _), _)| *f == from)
            .map(|((_, to), link)| format!("{to}={}", link.addr))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Cuts node `node` off from every other node, both directions.
    pub fn isolate(&self, node: u64) {
        for ((from, to), link) in &self.links {
            if *from == node || *to == node {
                link.cut();
            }
        }
    }

    /// Cuts the link on which node `from` reaches node `to` (one direction).
    pub fn cut(&self, from: u64, to: u64) {
        self.links[&(from, to)].cut();
    }

    /// Heals every link.
    pub fn heal(&self) {
        self.links.values().for_each(LinkProxy::heal);
    }
}
