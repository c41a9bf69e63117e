//! Compiles `proto/` into prost types with a pure-Rust protobuf parser (no `protoc`),
//! and records the compiler version reported as `lightstep.tracer_platform_version`.

use std::process::Command;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let files = ["proto/collector.proto", "proto/carrier.proto"];
    let descriptors = protox::compile(files, ["proto"])?;
    prost_build::Config::new()
        .compile_well_known_types()
        .compile_fds(descriptors)?;

    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.split_whitespace().nth(1).map(str::to_owned))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=LIGHTSTEP_RUSTC_VERSION={version}");
    Ok(())
}
