//! Compiles `proto/` with `protox` (pure Rust, so no system `protoc` is needed) and writes
//! the encoded descriptor set to `OUT_DIR` for gRPC server reflection.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "proto/eventlog/v1/records.proto",
    "proto/eventlog/v1/event_log.proto",
    "proto/eventlog/v1/admin.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(PROTOS, ["proto"])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let encoded = protox::prost::Message::encode_to_vec(&fds);
    std::fs::write(out_dir.join("eventlog_descriptor.bin"), encoded)?;
    tonic_prost_build::configure()
        // Record keys and values become `bytes::Bytes`, so they move from the storage
        // engine's buffers to the wire without another copy.
        .bytes(".")
        // Undecodable requests are INVALID_ARGUMENT, not prost's INTERNAL.
        .codec_path("crate::service::codec::ProstCodec")
        .compile_fds(fds)?;
    Ok(())
}
