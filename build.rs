//! Compiles `proto/` into prost types with a pure-Rust protobuf parser (no `protoc`),
//! and records the compiler version reported as `lightstep.tracer_platform_version`.
//!
//! With the `grpc` feature it also generates, from the same descriptors, the tonic client
//! of `CollectorService` (and its server, for the local collector, when `collector` is on
//! too). Only service code is generated: every message resolves to the prost types above
//! (`crate::proto`), except the two that cross the wire, which travel as the bytes the
//! reporter already encoded (`crate::grpc::Encoded`, with its raw codec).

use std::process::Command;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let files = [
        "proto/collector.proto",
        "proto/carrier.proto",
        "proto/metrics.proto",
        // OTLP: the export request and what it holds, and the error body of a refusal.
        "proto/opentelemetry/proto/collector/trace/v1/trace_service.proto",
        "proto/google/rpc/status.proto",
    ];
    let descriptors = protox::compile(files, ["proto"])?;
    // Cargo builds this script with the package's features, so `CARGO_FEATURE_GRPC` and
    // `cfg(feature = "grpc")` agree.
    #[cfg(feature = "grpc")]
    generate_grpc(descriptors.clone())?;
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

#[cfg(feature = "grpc")]
fn generate_grpc(
    descriptors: tonic_prost_build::FileDescriptorSet,
) -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("grpc");
    std::fs::create_dir_all(&out_dir)?;
    let server = std::env::var_os("CARGO_FEATURE_COLLECTOR").is_some();
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(server)
        .build_transport(false)
        .out_dir(&out_dir)
        .codec_path("crate::grpc::RawCodec")
        // Keeps prost from mapping `.google.protobuf` to `prost_types`: ours are in `proto`.
        .compile_well_known_types(true)
        .extern_path(".lightstep.collector.ReportRequest", "crate::grpc::Encoded")
        .extern_path(
            ".lightstep.collector.ReportResponse",
            "crate::grpc::Encoded",
        )
        .extern_path(".lightstep", "crate::proto::lightstep")
        .extern_path(".google.protobuf", "crate::proto::google::protobuf")
        .extern_path(".google.rpc", "crate::proto::google::rpc")
        .extern_path(".opentelemetry", "crate::proto::opentelemetry")
        .compile_fds(descriptors)?;
    Ok(())
}
