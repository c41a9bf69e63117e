//! Report encoding throughput for a realistic span (5 tags of four types, 1 log of two
//! fields, one `CHILD_OF` reference), 1000 spans per `ReportRequest`.
//!
//! The crate's encoder is private, so this goes through the public protobuf types the
//! reporter fills in (`lightstep::proto::collector`) and `prost`:
//! - `encode_1000`: `encode_to_vec` of a ready `ReportRequest` (the reporter's
//!   `ReportBuilder::encode` writes the same bytes field by field);
//! - `convert_and_encode_1000`: building the protobuf spans from the caller's data
//!   (owned strings for names, keys and values, as the reporter's converter does), then
//!   encoding: the reporter's whole per-span CPU cost short of the HTTP request;
//! - `decode_1000`: what the `LocalCollector` pays per report (it bounds the end-to-end
//!   figures on this machine, where collector and tracer share two cores).
//!
//! The encoded size of one span is recorded too (`encode/bytes_per_span`).
//!
//! `cargo bench --bench encode`

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lightstep::proto::collector as pb;
use lightstep::proto::Timestamp;
use prost::Message;
use std::hint::black_box;

const SPANS: usize = 1000;

/// A tag value as the caller gives it.
#[derive(Clone, Copy)]
enum Val {
    Str(&'static str),
    Int(i64),
    Bool(bool),
    Float(f64),
}

/// What the caller's thread hands over for one span (names are `&'static str`).
struct Record {
    trace_id: u64,
    span_id: u64,
    parent_id: u64,
    operation: &'static str,
    start_nanos: u64,
    duration_micros: u64,
    tags: [(&'static str, Val); 5],
    log_at_nanos: u64,
    log: [(&'static str, Val); 2],
}

fn records() -> Vec<Record> {
    (0..SPANS as u64)
        .map(|i| Record {
            trace_id: 0x4bf9_2f35_77b3_4da6 ^ (i / 10),
            span_id: 0x00f0_67aa_0ba9_02b7_u64.wrapping_mul(i + 1),
            parent_id: 0x1234_5678_9abc_def0 ^ i,
            operation: "GET /api/v1/users/{id}",
            start_nanos: 1_767_225_600_000_000_000 + i * 1_000_000,
            duration_micros: 1_250 + i,
            tags: [
                ("component", Val::Str("http-server")),
                ("http.method", Val::Str("GET")),
                ("http.status_code", Val::Int(200)),
                ("cache.hit", Val::Bool(false)),
                ("db.rows", Val::Float(12.0)),
            ],
            log_at_nanos: 1_767_225_600_000_500_000 + i * 1_000_000,
            log: [
                ("event", Val::Str("cache miss")),
                ("key", Val::Str("user:42")),
            ],
        })
        .collect()
}

fn timestamp(nanos: u64) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: (nanos / 1_000_000_000) as i64,
        nanos: (nanos % 1_000_000_000) as i32,
    })
}

fn key_value(key: &str, value: Val) -> pb::KeyValue {
    use pb::key_value::Value as V;
    pb::KeyValue {
        key: key.to_owned(),
        value: Some(match value {
            Val::Str(s) => V::StringValue(s.to_owned()),
            Val::Int(i) => V::IntValue(i),
            Val::Bool(b) => V::BoolValue(b),
            Val::Float(x) => V::DoubleValue(x),
        }),
    }
}

/// The reporter's conversion of one record into its protobuf span.
fn convert(record: &Record) -> pb::Span {
    pb::Span {
        span_context: Some(pb::SpanContext {
            trace_id: record.trace_id,
            span_id: record.span_id,
            baggage: Default::default(),
        }),
        operation_name: record.operation.to_owned(),
        references: vec![pb::Reference {
            relationship: pb::reference::Relationship::ChildOf as i32,
            span_context: Some(pb::SpanContext {
                trace_id: record.trace_id,
                span_id: record.parent_id,
                baggage: Default::default(),
            }),
        }],
        start_timestamp: timestamp(record.start_nanos),
        duration_micros: record.duration_micros,
        tags: record.tags.iter().map(|&(k, v)| key_value(k, v)).collect(),
        logs: vec![pb::Log {
            timestamp: timestamp(record.log_at_nanos),
            fields: record.log.iter().map(|&(k, v)| key_value(k, v)).collect(),
        }],
    }
}

/// The parts of every report besides its spans, as the tracer sends them.
fn envelope() -> pb::ReportRequest {
    let tags = [
        ("lightstep.component_name", "bench"),
        ("lightstep.hostname", "bench-host"),
        (
            "lightstep.command_line",
            "target/release/deps/encode --bench",
        ),
        ("lightstep.tracer_platform", "rust"),
        ("lightstep.tracer_platform_version", "1.95.0"),
        ("lightstep.tracer_version", env!("CARGO_PKG_VERSION")),
    ];
    pb::ReportRequest {
        reporter: Some(pb::Reporter {
            reporter_id: 0x0123_4567_89ab_cdef,
            tags: tags
                .iter()
                .map(|&(k, v)| key_value(k, Val::Str(v)))
                .collect(),
        }),
        auth: Some(pb::Auth {
            access_token: "0123456789abcdef0123456789abcdef".into(),
        }),
        spans: Vec::new(),
        timestamp_offset_micros: 0,
        internal_metrics: Some(pb::InternalMetrics {
            start_timestamp: timestamp(1_767_225_600_000_000_000),
            duration_micros: 2_500_000,
            logs: Vec::new(),
            counts: ["spans.dropped", "log_encoder.errors"]
                .iter()
                .map(|name| pb::MetricsSample {
                    name: (*name).to_owned(),
                    value: Some(pb::metrics_sample::Value::IntValue(0)),
                })
                .collect(),
            gauges: Vec::new(),
        }),
    }
}

fn encode(c: &mut Criterion) {
    let records = records();
    let mut request = envelope();
    request.spans = records.iter().map(convert).collect();

    let span_bytes = prost::encoding::message::encoded_len(3, &request.spans[0]);
    let envelope_bytes = envelope().encoded_len();
    let body = request.encode_to_vec();
    eprintln!(
        "encode: {span_bytes} bytes per span in a report, {envelope_bytes} bytes of envelope, \
         {} bytes for {SPANS} spans",
        body.len()
    );
    common::record(
        "encode/bytes",
        &[
            ("bytes_per_span", span_bytes as f64),
            ("envelope_bytes", envelope_bytes as f64),
            ("report_bytes", body.len() as f64),
            ("spans_per_report", SPANS as f64),
        ],
    );

    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(SPANS as u64));
    group.bench_function("encode_1000", |b| {
        b.iter(|| black_box(&request).encode_to_vec())
    });
    group.bench_function("convert_and_encode_1000", |b| {
        b.iter(|| {
            let mut request = envelope();
            request.spans = black_box(&records).iter().map(convert).collect();
            request.encode_to_vec()
        })
    });
    group.bench_function("decode_1000", |b| {
        b.iter(|| pb::ReportRequest::decode(black_box(body.as_slice())).expect("decodes"))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = encode
}
criterion_main!(benches);
