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
    let mut config = prost_build::Config::new();
    config.compile_well_known_types();
    for (proto, example) in examples() {
        config.type_attribute(proto, format!("#[doc = {example:?}]"));
    }
    config.compile_fds(descriptors)?;

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

/// An `# Examples` doctest for each generated type (`lightstep::proto`, public with the
/// `collector` feature): messages are encoded and decoded with `prost::Message`; enums and
/// one-ofs are shown in use.
fn examples() -> Vec<(&'static str, String)> {
    let message = |proto: &'static str, rust: &str, value: &str| {
        // The type is the one the example's value starts with.
        let name = value
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .next()
            .unwrap_or(value);
        let example = format!(
            "\n# Examples\n\n```\n# #[cfg(feature = \"collector\")] {{\nuse lightstep::proto::{rust};\n\
             use prost::Message;\n\nlet message = {value};\nlet bytes = message.encode_to_vec();\n\
             assert_eq!({name}::decode(bytes.as_slice()).unwrap(), message);\n# }}\n```"
        );
        (proto, example)
    };
    let other = |proto: &'static str, body: &str| {
        let example =
            format!("\n# Examples\n\n```\n# #[cfg(feature = \"collector\")] {{\n{body}\n# }}\n```");
        (proto, example)
    };
    vec![
        message(
            ".google.protobuf.Timestamp",
            "Timestamp",
            "Timestamp { seconds: 1_700_000_000, nanos: 250_000_000 }",
        ),
        message(
            ".google.protobuf.Duration",
            "google::protobuf::Duration",
            "Duration { seconds: 30, nanos: 0 }",
        ),
        message(
            ".lightstep.collector.SpanContext",
            "collector::SpanContext",
            "SpanContext { trace_id: 0xf1e2d3c4b5a69788, span_id: 0xff, ..Default::default() }",
        ),
        message(
            ".lightstep.collector.KeyValue",
            "collector::{key_value::Value, KeyValue}",
            "KeyValue { key: \"user.id\".into(), value: Some(Value::IntValue(42)) }",
        ),
        other(
            ".lightstep.collector.KeyValue.value",
            "use lightstep::proto::collector::key_value::Value;\n\n\
             let value = Value::StringValue(\"hello\".into());\n\
             assert!(matches!(value, Value::StringValue(ref s) if s == \"hello\"));",
        ),
        message(
            ".lightstep.collector.Log",
            "collector::{Log, KeyValue}",
            "Log { fields: vec![KeyValue { key: \"event\".into(), ..Default::default() }], ..Default::default() }",
        ),
        message(
            ".lightstep.collector.Reference",
            "collector::{reference::Relationship, Reference}",
            "Reference { relationship: Relationship::FollowsFrom as i32, span_context: None }",
        ),
        other(
            ".lightstep.collector.Reference.Relationship",
            "use lightstep::proto::collector::reference::Relationship;\n\n\
             assert_eq!(Relationship::try_from(0), Ok(Relationship::ChildOf));\n\
             assert_eq!(Relationship::FollowsFrom.as_str_name(), \"FOLLOWS_FROM\");",
        ),
        message(
            ".lightstep.collector.Span",
            "collector::Span",
            "Span { operation_name: \"db.query\".into(), duration_micros: 1500, ..Default::default() }",
        ),
        message(
            ".lightstep.collector.Reporter",
            "collector::Reporter",
            "Reporter { reporter_id: 0xa1b2c3d4e5f60718, tags: Vec::new() }",
        ),
        message(
            ".lightstep.collector.MetricsSample",
            "collector::{metrics_sample::Value, MetricsSample}",
            "MetricsSample { name: \"spans.dropped\".into(), value: Some(Value::IntValue(0)) }",
        ),
        other(
            ".lightstep.collector.MetricsSample.value",
            "use lightstep::proto::collector::metrics_sample::Value;\n\n\
             let dropped = Value::IntValue(3);\nassert_eq!(dropped, Value::IntValue(3));",
        ),
        message(
            ".lightstep.collector.InternalMetrics",
            "collector::InternalMetrics",
            "InternalMetrics::default()",
        ),
        message(
            ".lightstep.collector.Auth",
            "collector::Auth",
            "Auth { access_token: \"YourAccessToken\".into() }",
        ),
        other(
            ".lightstep.collector.ReportRequest",
            "use lightstep::collector::LocalCollector;\nuse lightstep::proto::collector::ReportRequest;\n\
             use prost::Message;\nuse std::time::Duration;\n\n\
             let collector = LocalCollector::start().unwrap();\n\
             let tracer = lightstep::Tracer::new(\n    \
             lightstep::Options::new(\"token\").collector_url(collector.url()),\n).unwrap();\n\
             tracer.span(\"work\").start().finish();\n\
             tracer.flush(Duration::from_secs(5)).unwrap();\n\
             let received = &collector.reports()[0];\n\
             // The body the tracer sent, decoded as the collector decoded it.\n\
             let request = ReportRequest::decode(received.body.as_slice()).unwrap();\n\
             assert_eq!(request, received.request);\n\
             assert_eq!(request.spans[0].operation_name, \"work\");",
        ),
        message(
            ".lightstep.collector.Command",
            "collector::Command",
            "Command { disable: true, dev_mode: false }",
        ),
        message(
            ".lightstep.collector.ReportResponse",
            "collector::{Command, ReportResponse}",
            "ReportResponse { commands: vec![Command { disable: true, dev_mode: false }], ..Default::default() }",
        ),
        message(
            ".lightstep.metrics.MetricPoint",
            "metrics::{metric_point::Value, MetricKind, MetricPoint}",
            "MetricPoint { metric_name: \"mem.total\".into(), kind: MetricKind::Gauge as i32, \
             value: Some(Value::Uint64Value(1 << 30)), ..Default::default() }",
        ),
        other(
            ".lightstep.metrics.MetricPoint.value",
            "use lightstep::proto::metrics::metric_point::Value;\n\n\
             let value = Value::DoubleValue(0.25);\nassert_eq!(value, Value::DoubleValue(0.25));",
        ),
        message(
            ".lightstep.metrics.IngestRequest",
            "metrics::IngestRequest",
            "IngestRequest { idempotency_key: \"k\".repeat(48), ..Default::default() }",
        ),
        message(
            ".lightstep.metrics.IngestResponse",
            "metrics::IngestResponse",
            "IngestResponse {}",
        ),
        other(
            ".lightstep.metrics.MetricKind",
            "use lightstep::proto::metrics::MetricKind;\n\n\
             assert_eq!(MetricKind::try_from(MetricKind::Counter as i32), Ok(MetricKind::Counter));",
        ),
        message(
            ".lightstep.BasicTracerCarrier",
            "lightstep::BasicTracerCarrier",
            "BasicTracerCarrier { trace_id: 1, span_id: 2, sampled: true, ..Default::default() }",
        ),
        message(
            ".lightstep.BinaryCarrier",
            "lightstep::{BasicTracerCarrier, BinaryCarrier}",
            "BinaryCarrier { basic_ctx: Some(BasicTracerCarrier { trace_id: 1, span_id: 2, \
             sampled: true, ..Default::default() }), ..Default::default() }",
        ),
        // OTLP (`lightstep::proto::opentelemetry::proto`).
        message(
            ".opentelemetry.proto.common.v1.AnyValue",
            "opentelemetry::proto::common::v1::{any_value::Value, AnyValue}",
            "AnyValue { value: Some(Value::IntValue(42)) }",
        ),
        other(
            ".opentelemetry.proto.common.v1.AnyValue.value",
            "use lightstep::proto::opentelemetry::proto::common::v1::any_value::Value;\n\n\
             let value = Value::BoolValue(true);\nassert_eq!(value, Value::BoolValue(true));",
        ),
        message(
            ".opentelemetry.proto.common.v1.ArrayValue",
            "opentelemetry::proto::common::v1::ArrayValue",
            "ArrayValue { values: Vec::new() }",
        ),
        message(
            ".opentelemetry.proto.common.v1.KeyValueList",
            "opentelemetry::proto::common::v1::KeyValueList",
            "KeyValueList { values: Vec::new() }",
        ),
        message(
            ".opentelemetry.proto.common.v1.KeyValue",
            "opentelemetry::proto::common::v1::KeyValue",
            "KeyValue { key: \"service.name\".into(), value: None }",
        ),
        message(
            ".opentelemetry.proto.common.v1.InstrumentationScope",
            "opentelemetry::proto::common::v1::InstrumentationScope",
            "InstrumentationScope { name: \"lightstep\".into(), ..Default::default() }",
        ),
        message(
            ".opentelemetry.proto.resource.v1.Resource",
            "opentelemetry::proto::resource::v1::Resource",
            "Resource::default()",
        ),
        message(
            ".opentelemetry.proto.trace.v1.ResourceSpans",
            "opentelemetry::proto::trace::v1::ResourceSpans",
            "ResourceSpans::default()",
        ),
        message(
            ".opentelemetry.proto.trace.v1.ScopeSpans",
            "opentelemetry::proto::trace::v1::ScopeSpans",
            "ScopeSpans::default()",
        ),
        message(
            ".opentelemetry.proto.trace.v1.Span",
            "opentelemetry::proto::trace::v1::Span",
            "Span { name: \"db.query\".into(), trace_id: vec![1; 16], span_id: vec![2; 8], ..Default::default() }",
        ),
        other(
            ".opentelemetry.proto.trace.v1.Span.SpanKind",
            "use lightstep::proto::opentelemetry::proto::trace::v1::span::SpanKind;\n\n\
             assert_eq!(SpanKind::Client.as_str_name(), \"SPAN_KIND_CLIENT\");",
        ),
        message(
            ".opentelemetry.proto.trace.v1.Span.Event",
            "opentelemetry::proto::trace::v1::span::Event",
            "Event { name: \"cache_miss\".into(), ..Default::default() }",
        ),
        message(
            ".opentelemetry.proto.trace.v1.Span.Link",
            "opentelemetry::proto::trace::v1::span::Link",
            "Link { span_id: vec![3; 8], ..Default::default() }",
        ),
        message(
            ".opentelemetry.proto.trace.v1.Status",
            "opentelemetry::proto::trace::v1::{status::StatusCode, Status}",
            "Status { code: StatusCode::Error as i32, message: \"boom\".into() }",
        ),
        other(
            ".opentelemetry.proto.trace.v1.Status.StatusCode",
            "use lightstep::proto::opentelemetry::proto::trace::v1::status::StatusCode;\n\n\
             assert_eq!(StatusCode::try_from(2), Ok(StatusCode::Error));",
        ),
        other(
            ".opentelemetry.proto.trace.v1.SpanFlags",
            "use lightstep::proto::opentelemetry::proto::trace::v1::SpanFlags;\n\n\
             assert_eq!(SpanFlags::TraceFlagsMask as i32, 0xff);",
        ),
        message(
            ".opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest",
            "opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest",
            "ExportTraceServiceRequest { resource_spans: Vec::new() }",
        ),
        message(
            ".opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse",
            "opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse",
            "ExportTraceServiceResponse { partial_success: None }",
        ),
        message(
            ".opentelemetry.proto.collector.trace.v1.ExportTracePartialSuccess",
            "opentelemetry::proto::collector::trace::v1::ExportTracePartialSuccess",
            "ExportTracePartialSuccess { rejected_spans: 2, error_message: \"too old\".into() }",
        ),
        message(
            ".google.rpc.Status",
            "google::rpc::Status",
            "Status { code: 14, message: \"unavailable\".into() }",
        ),
    ]
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
