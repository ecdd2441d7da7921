//! Replication: partitions copied to several nodes by Raft (`openraft`), with the
//! partition log itself as the Raft log.
//!
//! Each partition's replicas form one Raft group; every group of a node shares one
//! network (one gRPC channel per peer). The storage engine knows nothing of this:
//! groups use the partition log through its narrow batch interface (append a whole
//! batch, read whole batches, truncate, delete old segments).
//!
//! # Concepts and where they live
//! - [`types`]: the Raft type configuration; an entry's data is one record batch.
//! - [`entry_batch`]: each Raft entry stored as exactly one batch (blank and
//!   membership entries as control batches), the term in the batch's leader epoch.
//! - [`index_map`]: Raft index → batch, counted from an anchor.
//! - [`state_file`]: vote, anchor, purge point and applied position, beside the log.
//! - [`replica_log`]: log + map + state file, the blocking core of a replica.
//! - [`log_store`] and [`state_machine`]: openraft's storage traits over that core;
//!   applying an entry moves the partition's commit watermark (the high watermark
//!   consumers read below).
//! - [`log_trim`]: retention of a replica's log as a Raft snapshot and purge; a
//!   follower the leader purged past starts its log again at the leader's snapshot.
//! - [`network`] and [`transport`]: node-to-node Raft messages over gRPC
//!   (`eventlog.cluster.v1.RaftTransport`), [`wire`] for what both sides share.
//! - [`groups`] and [`node`]: the groups a node runs, started over partition logs;
//!   [`new_leaders`]: a topic's creation waiting for its partitions' first leaders.
//! - [`metadata`] and [`metadata_machine`]: topics, placement and consumer-group
//!   positions, replicated by the metadata group; [`group_offsets`]: the group
//!   positions and the changes each node's group store mirrors.
//! - [`acks`]: what a produce waits for (a majority, or the leader's own log) and
//!   the in-memory notice that tells a leader's produce its batch is durable there.
//! - [`control`]: proposals handed to a group's leader, and the probe with which
//!   [`rejoin_guard`] tells a node that lost its data from a new one; [`rejoin`]:
//!   such a node taken back into each group as a learner, then a voter;
//!   [`peer_call`]: the calling side of its JSON requests.
//! - [`remote_read`]: reads of a partition this node holds no replica of, asked of a
//!   node holding one (`eventlog.cluster.v1.PartitionReads`); [`remote_compact`]:
//!   on-demand compaction of the replicas other nodes hold
//!   (`eventlog.cluster.v1.ReplicaMaintenance`).
//! - [`node_change`]: adding and removing nodes (metadata group membership);
//!   [`replica_move`]: moving a partition's replicas (its group's membership).
//! - [`leader_balance`]: handing partitions' leadership back to their preferred
//!   leaders, each by a [`handover`] (an election the leader arranges), while the
//!   partition's [`write_gate`] holds new batches back.

// openraft's trait signatures fix its error types, which are large; boxing them here
// would only add conversions at every call.
#![allow(clippy::result_large_err)]

pub mod acks;
pub mod control;
pub mod entry_batch;
pub mod group_commands;
pub mod group_offsets;
pub mod groups;
pub mod handover;
pub mod index_map;
pub mod leader_balance;
pub mod log_store;
pub mod log_trim;
pub mod metadata;
pub mod metadata_machine;
pub mod metadata_snapshot;
pub mod network;
pub mod new_leaders;
pub mod node;
pub mod node_change;
pub mod peer_call;
pub mod peer_security;
pub mod propose;
pub mod rejoin;
pub mod rejoin_guard;
pub mod remote_compact;
pub mod remote_read;
pub mod replica_log;
pub mod replica_move;
pub mod runtime;
pub mod state_file;
pub mod state_machine;
pub mod transport;
pub mod types;
pub mod wire;
pub mod write_gate;

pub use acks::Acks;
pub use node::{ClusterNode, PartitionReplica, RaftTiming, ReplicaError};
pub use runtime::{Cluster, ClusterConfig};
