//! Code generated from `proto/eventlog/v1/*.proto` (package `eventlog.v1`), shared by the
//! server and the client.

/// Messages and services of `eventlog.v1`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("eventlog.v1");
}

/// Node-to-node messages of `eventlog.cluster.v1` (Raft traffic between nodes).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod cluster {
    tonic::include_proto!("eventlog.cluster.v1");
}

pub mod codec;

/// Every gRPC method of `eventlog.v1`, as `(full service name, method names)`, generated
/// from the `.proto` files.
pub mod methods {
    include!(concat!(env!("OUT_DIR"), "/rpc_methods.rs"));
}

/// The encoded descriptor set of `eventlog.v1`, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("eventlog_descriptor");
