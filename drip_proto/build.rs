//! Generates the gRPC code for `proto/drip/v1`, and the descriptor set the
//! reflection service serves.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    println!("cargo:rerun-if-changed=../proto");
    tonic_prost_build::configure()
        .build_client(true)
        .file_descriptor_set_path(out.join("drip_descriptor.bin"))
        .compile_protos(&["../proto/drip/v1/drip.proto"], &["../proto"])?;
    Ok(())
}
