//! Compiles the Nitric service contract (`src/nitric/proto/*.proto`, written
//! from ../shared/NITRIC.md) with protox, so no system `protoc` is needed.

const PROTO_DIR: &str = "src/nitric/proto";
const PROTOS: [&str; 10] = [
    "resources.proto",
    "websockets.proto",
    "kvstore.proto",
    "topics.proto",
    "apis.proto",
    "storage.proto",
    "schedules.proto",
    "http.proto",
    "batch.proto",
    "rpc_status.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files: Vec<String> = PROTOS
        .iter()
        .map(|name| format!("{PROTO_DIR}/{name}"))
        .collect();
    for file in &files {
        println!("cargo:rerun-if-changed={file}");
    }
    println!("cargo:rerun-if-changed=src/nitric/build.rs");
    let descriptors = protox::compile(&files, [PROTO_DIR])?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
