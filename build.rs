//! Compiles `proto/` with `protox` (pure Rust, so no system `protoc` is needed) and writes
//! the encoded descriptor set to `OUT_DIR` for gRPC server reflection, and the list of
//! every service's methods (`rpc_methods.rs`), so code that labels or checks RPCs by
//! name cannot drift from the `.proto` files.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "proto/eventlog/v1/records.proto",
    "proto/eventlog/v1/event_log.proto",
    "proto/eventlog/v1/admin.proto",
    "proto/eventlog/cluster/v1/raft.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(PROTOS, ["proto"])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let encoded = protox::prost::Message::encode_to_vec(&fds);
    std::fs::write(out_dir.join("eventlog_descriptor.bin"), encoded)?;
    std::fs::write(out_dir.join("rpc_methods.rs"), rpc_methods(&fds))?;
    tonic_prost_build::configure()
        // Record keys and values become `bytes::Bytes`, so they move from the storage
        // engine's buffers to the wire without another copy.
        .bytes(".")
        // Undecodable requests are INVALID_ARGUMENT, not prost's INTERNAL.
        .codec_path("crate::proto::codec::ProstCodec")
        .compile_fds(fds)?;
    Ok(())
}

/// `pub const RPC_METHODS: &[(&str, &[&str])]`: each service's full name and methods.
fn rpc_methods(fds: &protox::prost_reflect::prost_types::FileDescriptorSet) -> String {
    let mut out = String::from(
        "/// Each service's full name and its methods.\npub const RPC_METHODS: &[(&str, &[&str])] = &[\n",
    );
    for file in &fds.file {
        for service in &file.service {
            let methods: Vec<String> = service
                .method
                .iter()
                .map(|m| format!("{:?}", m.name()))
                .collect();
            out.push_str(&format!(
                "    (\"{}.{}\", &[{}]),\n",
                file.package(),
                service.name(),
                methods.join(", ")
            ));
        }
    }
    out.push_str("];\n");
    out
}
