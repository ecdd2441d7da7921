//! Code generated from `proto/eventlog/v1/*.proto` (package `eventlog.v1`), shared by the
//! server and the client.

/// The packages nested as their names are, so that a message of one package named in
/// another (`eventlog.cluster.v1` uses `eventlog.v1.PartitionCompaction`) resolves.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
mod eventlog {
    pub mod v1 {
        tonic::include_proto!("eventlog.v1");
    }
    pub mod cluster {
        pub mod v1 {
            tonic::include_proto!("eventlog.cluster.v1");
        }
    }
}

/// Messages and services of `eventlog.v1`.
pub use eventlog::v1;

/// Node-to-node messages of `eventlog.cluster.v1` (Raft traffic between nodes).
pub use eventlog::cluster::v1 as cluster;

pub mod codec;

/// Every gRPC method of `eventlog.v1`, as `(full service name, method names)`, generated
/// from the `.proto` files.
pub mod methods {
    include!(concat!(env!("OUT_DIR"), "/rpc_methods.rs"));
}

/// The encoded descriptor set of `eventlog.v1`, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("eventlog_descriptor");
