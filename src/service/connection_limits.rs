//! Caps on the connections of one listener: in all, and per peer address.
//!
//! Every accepted socket costs a file descriptor and some buffers before it has said
//! anything, authenticated or not, so without a cap a flood of idle connections would
//! exhaust the process's descriptors and lock every client out. A [`ConnectionGate`]
//! counts one listener's open connections; a socket over a cap is refused at accept
//! (see [`connection_refusal`](super::connection_refusal)).
//!
//! The gate belongs to a listener, not to the server: the client port has its own, and
//! a node-to-node listener (a future cluster) gets its own gate with its own limits, so
//! clients filling theirs can never starve traffic between nodes.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

/// Most connections one listener keeps open at once.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 4096;
/// Most connections one listener keeps open from one peer address.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: u32 = 1024;

/// The caps of one listener: plain data with defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Most open connections in all. Default 4096.
    pub max_connections: u32,
    /// Most open connections from one IP address. Default 1024.
    pub max_connections_per_ip: u32,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
        }
    }
}

/// Why a connection was refused; the message names the limit and its flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The listener holds its most connections.
    #[error("too many connections: the server allows {limit} at once (--max-connections)")]
    Total {
        /// The cap.
        limit: u32,
    },
    /// The peer's address holds its most connections.
    #[error(
        "too many connections from {ip}: the server allows {limit} per address \
         (--max-connections-per-ip)"
    )]
    PerIp {
        /// The peer's address.
        ip: IpAddr,
        /// The cap.
        limit: u32,
    },
}

impl Refusal {
    /// The `limit` label of the refusal counter.
    pub fn label(&self) -> &'static str {
        match self {
            Refusal::Total { .. } => "total",
            Refusal::PerIp { .. } => "per_ip",
        }
    }
}

/// The open connections of one listener, against its limits.
#[derive(Debug)]
pub struct ConnectionGate {
    limits: ConnectionLimits,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: u32,
    per_ip: HashMap<IpAddr, u32>,
}

impl ConnectionGate {
    /// A gate with no connection open.
    pub fn new(limits: ConnectionLimits) -> Arc<ConnectionGate> {
        Arc::new(ConnectionGate {
            limits,
            open: Mutex::default(),
        })
    }

    /// Counts a connection from `peer`, or says which limit it would pass.
    pub fn admit(self: &Arc<Self>, peer: SocketAddr) -> Result<Admission, Refusal> {
        // An IPv4 client reaching a dual-stack socket is the same client either way.
        let ip = peer.ip().to_canonical();
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let ConnectionLimits {
            max_connections,
            max_connections_per_ip,
        } = self.limits;
        if open.total >= max_connections {
            return Err(Refusal::Total {
                limit: max_connections,
            });
        }
        let from_ip = open.per_ip.entry(ip).or_default();
        if *from_ip >= max_connections_per_ip {
            return Err(Refusal::PerIp {
                ip,
                limit: max_connections_per_ip,
            });
        }
        *from_ip += 1;
        open.total += 1;
        Ok(Admission {
            gate: Arc::clone(self),
            peer,
        })
    }

    fn leave(&self, ip: IpAddr) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.total = open.total.saturating_sub(1);
        if let Some(from_ip) = open.per_ip.get_mut(&ip) {
            *from_ip = from_ip.saturating_sub(1);
            if *from_ip == 0 {
                // Gone peers must not grow the map for ever.
                open.per_ip.remove(&ip);
            }
        }
    }
}

/// A connection's place in its gate, given back when dropped.
#[derive(Debug)]
pub struct Admission {
    gate: Arc<ConnectionGate>,
    peer: SocketAddr,
}

impl Admission {
    /// The admitted peer.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.gate.leave(self.peer.ip().to_canonical());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn caps_in_all_and_per_address_and_closed_connections_give_their_place_back() {
        let gate = ConnectionGate::new(ConnectionLimits {
            max_connections: 3,
            max_connections_per_ip: 2,
        });
        let a1 = gate.admit(peer("10.0.0.1:1000")).unwrap();
        let _a2 = gate.admit(peer("10.0.0.1:1001")).unwrap();
        // The same address over IPv6 (mapped) counts as the same peer.
        let refused = gate.admit(peer("[::ffff:10.0.0.1]:1002")).unwrap_err();
        assert_eq!(
            refused,
            Refusal::PerIp {
                ip: "10.0.0.1".parse().unwrap(),
                limit: 2
            }
        );
        assert!(refused.to_string().contains("--max-connections-per-ip"));
        let _b1 = gate.admit(peer("10.0.0.2:1000")).unwrap();
        let refused = gate.admit(peer("10.0.0.3:1000")).unwrap_err();
        assert_eq!(refused, Refusal::Total { limit: 3 });
        assert!(
            refused
                .to_string()
                .contains("allows 3 at once (--max-connections)")
        );
        drop(a1);
        gate.admit(peer("10.0.0.1:1003"))
            .expect("a closed connection's place is free");
    }

    #[test]
    fn peers_that_left_are_forgotten() {
        let gate = ConnectionGate::new(ConnectionLimits::default());
        drop(gate.admit(peer("10.0.0.9:1")).unwrap());
        let open = gate.open.lock().unwrap();
        assert_eq!(open.total, 0);
        assert!(open.per_ip.is_empty());
    }
}
