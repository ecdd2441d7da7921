//! Producer ids and epochs for idempotent producers (`InitProducer`).
//!
//! An id is never handed out twice, across restarts: ids are reserved in blocks and
//! the end of the reserved range is stored (`producers.json` in the data directory,
//! replaced atomically) before any id of a block is used. A process also never starts
//! below `now_ms × 1024`, so even a lost file cannot make a new producer reuse an old
//! id (that would let its first batches pass for an old producer's retries).
//!
//! A producer may ask for a stable name (Kafka's `transactional.id`): every
//! `InitProducer` with the name returns the same id with the epoch bumped, which fences
//! the older instance: its produces are refused with the newer epoch. When the epoch
//! would pass `i16::MAX` the name gets a new id at epoch 0.
//!
//! In a cluster every node issues ids, so each node's ids carry its node id in bits
//! 52 to 61 ([`NODE_SHIFT`]; the per-node part stays below 2^52 until the year 2109),
//! and no two nodes can hand out the same id. A node accepts ids issued by other nodes
//! without checking them. Names and their epochs are kept by the cluster's metadata
//! group instead of this file (`producer_names`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::error::BrokerError;
use crate::storage::fsutil;

/// Ids reserved per write of the registry file.
const BLOCK: i64 = 1000;
/// Where a cluster node's id goes in the producer ids it issues.
pub const NODE_SHIFT: u32 = 52;
/// Largest node id that fits in a producer id.
pub const MAX_NODE_ID: u64 = 1023;

/// Longest producer name accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 255;

/// A producer's identity, as `InitProducer` returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerIdentity {
    /// The producer id.
    pub producer_id: i64,
    /// Its epoch.
    pub epoch: i16,
}

/// What is stored.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Registry {
    /// Every id below this may have been handed out.
    reserved_upto: i64,
    /// Named producers: name → (id, epoch).
    names: BTreeMap<String, (i64, i16)>,
}

struct State {
    registry: Registry,
    /// The next id to hand out (below `registry.reserved_upto`, or a new block). Every
    /// id below it was handed out or skipped, and none at or above it ever was.
    next: i64,
    /// The newest epoch of each named producer's id: looked up on every produce.
    epochs: HashMap<i64, i16>,
}

/// The broker's producer ids.
pub struct ProducerIds {
    path: PathBuf,
    /// This node's id, once the broker joined a cluster.
    node: std::sync::OnceLock<u64>,
    max_names: usize,
    state: Mutex<State>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl ProducerIds {
    /// Name of the registry file in the data directory.
    pub const FILE_NAME: &'static str = "producers.json";

    /// Loads the registry of `data_dir` (none yet: an empty one); at most `max_names`
    /// named producers are kept.
    pub fn open(data_dir: &Path, max_names: usize) -> Result<ProducerIds, BrokerError> {
        let path = data_dir.join(Self::FILE_NAME);
        let registry = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| BrokerError::BadMetadata {
                path: path.clone(),
                reason: format!("{e}; ids of idempotent producers would not be known to be unique"),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Registry::default(),
            Err(source) => return Err(BrokerError::Io { path, source }),
        };
        let next = registry.reserved_upto.max(now_ms().saturating_mul(1024));
        Ok(ProducerIds {
            path,
            node: std::sync::OnceLock::new(),
            max_names,
            state: Mutex::new(State {
                epochs: registry.names.values().copied().collect(),
                registry,
                next,
            }),
        })
    }

    /// Marks the ids issued from now on as this cluster node's (`node` at most
    /// [`MAX_NODE_ID`]).
    pub fn set_node(&self, node: u64) -> Result<(), BrokerError> {
        if node > MAX_NODE_ID {
            return Err(BrokerError::InvalidRequest(format!(
                "node ids go up to {MAX_NODE_ID}, not {node}"
            )));
        }
        let _ = self.node.set(node);
        Ok(())
    }

    /// The node part of ids issued here (0 on a single node).
    fn node_bits(&self) -> i64 {
        self.node.get().map_or(0, |n| (*n as i64) << NODE_SHIFT)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new producer identity: a fresh id at epoch 0, or for `name` its id with the
    /// epoch bumped (fencing the instance that held the older epoch).
    pub fn init(&self, name: Option<&str>) -> Result<ProducerIdentity, BrokerError> {
        let mut state = self.lock();
        let Some(name) = name else {
            let producer_id = self.issue(&mut state)?;
            return Ok(ProducerIdentity {
                producer_id,
                epoch: 0,
            });
        };
        check_name(name)?;
        let known = state.registry.names.get(name).copied();
        if known.is_none() && state.registry.names.len() >= self.max_names {
            return Err(BrokerError::TooManyProducerNames {
                limit: self.max_names,
            });
        }
        let (producer_id, epoch) = match known {
            Some((id, epoch)) if epoch < i16::MAX => (id, epoch + 1),
            _ => (self.issue(&mut state)?, 0),
        };
        let previous = state
            .registry
            .names
            .insert(name.to_string(), (producer_id, epoch));
        if let Err(error) = self.store(&state.registry) {
            // Not stored: the name keeps its old epoch, and the caller retries.
            match previous {
                Some(old) => state.registry.names.insert(name.to_string(), old),
                None => state.registry.names.remove(name),
            };
            return Err(error);
        }
        state.epochs.insert(producer_id, epoch);
        Ok(ProducerIdentity { producer_id, epoch })
    }

    /// Most named producers kept.
    pub fn max_names(&self) -> usize {
        self.max_names
    }

    /// Hands out the next id, storing a new reserved block first when needed.
    fn issue(&self, state: &mut State) -> Result<i64, BrokerError> {
        if state.next >= state.registry.reserved_upto {
            let reserved = Registry {
                reserved_upto: state.next + BLOCK,
                names: state.registry.names.clone(),
            };
            self.store(&reserved)?;
            state.registry.reserved_upto = reserved.reserved_upto;
        }
        let id = state.next;
        state.next += 1;
        Ok(id | self.node_bits())
    }

    fn store(&self, registry: &Registry) -> Result<(), BrokerError> {
        let bytes = serde_json::to_vec_pretty(registry).expect("the registry serializes");
        fsutil::write_atomic(&self.path, &bytes).map_err(|source| BrokerError::Io {
            path: self.path.clone(),
            source,
        })
    }

    /// Checks that `producer_id` was issued by this broker and that `epoch` is not older
    /// than its name's newest (a fenced instance).
    pub fn check(&self, producer_id: i64, epoch: i16) -> Result<(), BrokerError> {
        let state = self.lock();
        if self.node.get().is_some() && producer_id >= 0 {
            let node_mask = (MAX_NODE_ID as i64) << NODE_SHIFT;
            if producer_id & node_mask != self.node_bits() {
                // Issued by another node of the cluster, which alone can check it.
                return Ok(());
            }
        }
        match state.epochs.get(&producer_id) {
            Some(current) if epoch < *current => Err(BrokerError::ProducerFenced {
                producer_id,
                epoch,
                current: *current,
            }),
            Some(_) => Ok(()),
            // Anonymous producers are not listed. An id below `next` was issued or
            // skipped, and skipped ids are never issued later, so one a client makes up
            // there can never collide with a real producer's.
            None if (0..state.next).contains(&(producer_id & !self.node_bits())) => Ok(()),
            None => Err(BrokerError::UnknownProducer { producer_id }),
        }
    }
}

/// Refuses a producer name that is empty or longer than [`MAX_NAME_BYTES`].
pub fn check_name(name: &str) -> Result<(), BrokerError> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(BrokerError::InvalidRequest(format!(
            "a producer name must be 1 to {MAX_NAME_BYTES} bytes long"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_never_reused_across_restarts_and_names_bump_their_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let ids = ProducerIds::open(dir.path(), 10).unwrap();
        let a = ids.init(None).unwrap();
        let b = ids.init(None).unwrap();
        assert_ne!(a.producer_id, b.producer_id);
        let named = ids.init(Some("billing")).unwrap();
        assert_eq!(named.epoch, 0);
        let again = ids.init(Some("billing")).unwrap();
        assert_eq!((again.producer_id, again.epoch), (named.producer_id, 1));
        assert!(matches!(
            ids.check(named.producer_id, 0),
            Err(BrokerError::ProducerFenced { current: 1, .. })
        ));
        ids.check(named.producer_id, 1).unwrap();
        ids.check(a.producer_id, 0).unwrap();
        drop(ids);

        let ids = ProducerIds::open(dir.path(), 10).unwrap();
        let c = ids.init(None).unwrap();
        assert!(c.producer_id > b.producer_id.max(named.producer_id));
        let third = ids.init(Some("billing")).unwrap();
        assert_eq!((third.producer_id, third.epoch), (named.producer_id, 2));
        // Ids issued before the restart still check; made-up ones do not.
        ids.check(a.producer_id, 0).unwrap();
        assert!(matches!(
            ids.check(i64::MAX - 5, 0),
            Err(BrokerError::UnknownProducer { .. })
        ));
    }

    #[test]
    fn names_are_bounded_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let ids = ProducerIds::open(dir.path(), 1).unwrap();
        ids.init(Some("one")).unwrap();
        assert!(matches!(
            ids.init(Some("two")),
            Err(BrokerError::TooManyProducerNames { limit: 1 })
        ));
        ids.init(Some("one")).unwrap();
        assert!(matches!(
            ids.init(Some("")),
            Err(BrokerError::InvalidRequest(_))
        ));
        let long = "x".repeat(MAX_NAME_BYTES + 1);
        assert!(matches!(
            ids.init(Some(&long)),
            Err(BrokerError::InvalidRequest(_))
        ));
    }

    #[test]
    fn a_damaged_registry_is_an_error_not_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(ProducerIds::FILE_NAME), b"{not json").unwrap();
        assert!(matches!(
            ProducerIds::open(dir.path(), 10),
            Err(BrokerError::BadMetadata { .. })
        ));
    }
}
