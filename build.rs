//! Generates the tonic/prost code for `proto/authz/v1/*.proto` with `protox`, a pure-Rust
//! protobuf compiler, so a fresh machine builds without a system `protoc`.

use std::{env, fs, io, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The protox route prints no rerun-if-changed lines of its own.
    println!("cargo:rerun-if-changed=proto");

    let proto_dir = PathBuf::from("proto");
    let mut files = Vec::new();
    for entry in fs::read_dir(proto_dir.join("authz/v1"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "proto") {
            files.push(path);
        }
    }
    files.sort();

    let mut compiler = protox::Compiler::new([&proto_dir])?;
    compiler.include_source_info(true).include_imports(true);
    compiler.open_files(&files)?;

    // Server reflection serves this set; `compile_fds` does not write it itself.
    let out_dir =
        PathBuf::from(env::var_os("OUT_DIR").ok_or_else(|| io::Error::other("OUT_DIR unset"))?);
    fs::write(
        out_dir.join("authz_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;

    // Type names (`prost::Name`) let the codec name the message a request failed to be.
    let mut config = tonic_prost_build::Config::new();
    config.enable_type_names();
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // prost's codec answers a malformed request with INTERNAL; ours says
        // INVALID_ARGUMENT (src/api/codec.rs).
        .codec_path("crate::api::codec::ValidatingCodec")
        .compile_fds_with_config(compiler.file_descriptor_set(), config)?;
    Ok(())
}
