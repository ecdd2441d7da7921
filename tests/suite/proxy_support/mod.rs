//! A fault-injecting TCP proxy on loopback: it forwards every byte from client to
//! server, but now and then, instead of relaying a chunk of the server's reply, closes
//! both connections. The server has then done what was asked while the client never
//! hears of it: exactly the lost reply that tempts a client to retry and append twice.
//! Faults come from a seeded generator so that a failing run can be replayed in spirit
//! (which chunk a reply arrives in still depends on timing).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A running proxy; stops (and closes its connections) when dropped.
pub struct FaultyProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    dropped: Arc<AtomicU64>,
    drop_percent: Arc<AtomicU64>,
    upstream: Arc<Mutex<SocketAddr>>,
    task: JoinHandle<()>,
}

impl FaultyProxy {
    /// A proxy to `upstream` that drops about `drop_percent` percent of the server's
    /// reply chunks. Any chunk may go, the server's first HTTP/2 settings included: a
    /// reply can share a chunk with them, and a client must survive either loss.
    pub async fn start(upstream: SocketAddr, drop_percent: u64, seed: u64) -> FaultyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let dropped = Arc::new(AtomicU64::new(0));
        let counter = dropped.clone();
        let drop_percent = Arc::new(AtomicU64::new(drop_percent));
        let percent = drop_percent.clone();
        let upstream = Arc::new(Mutex::new(upstream));
        let target = upstream.clone();
        let task = tokio::spawn(async move {
            for connection in 0u64.. {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let to = *target.lock().unwrap();
                let Ok(server) = TcpStream::connect(to).await else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let faults = Faults {
                    state: seed ^ connection.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                    drop_percent: percent.clone(),
                    dropped: counter.clone(),
                };
                tokio::spawn(relay(client, server, faults));
            }
        });
        FaultyProxy {
            addr,
            dropped,
            drop_percent,
            upstream,
            task,
        }
    }

    /// The proxy's URL, for a client.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Changes the share of dropped reply chunks, for open connections too.
    pub fn set_drop_percent(&self, percent: u64) {
        self.drop_percent.store(percent, Ordering::Relaxed);
    }

    /// Sends new connections to `upstream` (a server restarted on another port).
    pub fn set_upstream(&self, upstream: SocketAddr) {
        *self.upstream.lock().unwrap() = upstream;
    }

    /// Replies dropped so far (connections closed instead of relaying).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One connection's fault schedule (splitmix64).
struct Faults {
    state: u64,
    drop_percent: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
}

impl Faults {
    /// Whether to drop the next reply chunk instead of relaying it.
    fn drop_next(&mut self) -> bool {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let drop = z % 100 < self.drop_percent.load(Ordering::Relaxed);
        if drop {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        drop
    }
}

/// Copies bytes both ways until either side closes or a reply chunk is dropped; then
/// both connections close (every half is dropped here).
async fn relay(client: TcpStream, server: TcpStream, mut faults: Faults) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let requests = tokio::io::copy(&mut client_read, &mut server_write);
    let replies = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if faults.drop_next() {
                return;
            }
            if client_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = requests => {}
        _ = replies => {}
    }
}
