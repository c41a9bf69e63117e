//! Propagation through a `HashMap<String, String>` carrier: inject into a fresh map, and
//! extract from a map that holds the tracer's headers among eight ordinary HTTP request
//! headers (as a server sees them). Our LightStep format (`ot-tracer-*`) and W3C
//! (`Propagator::TraceContext`), and `opentelemetry_sdk`'s `TraceContextPropagator` on
//! the same carriers for comparison.
//!
//! `cargo bench --bench propagation`

mod common;

use common::Ours;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lightstep::{Propagator, SpanContext};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{
    SpanContext as OtelContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
};
use opentelemetry::Context;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use std::collections::HashMap;
use std::hint::black_box;

const TRACE_ID: u64 = 0x4bf9_2f35_77b3_4da6;
const SPAN_ID: u64 = 0x00f0_67aa_0ba9_02b7;

/// Request headers a server typically sees besides the tracing ones.
fn request_headers() -> HashMap<String, String> {
    [
        ("host", "api.example.com"),
        ("user-agent", "curl/8.5.0"),
        ("accept", "application/json"),
        ("accept-encoding", "gzip, deflate, br"),
        ("content-type", "application/json"),
        ("content-length", "348"),
        ("connection", "keep-alive"),
        ("x-request-id", "2f1c1b4e-8f0c-4c3a-9d5e-1a2b3c4d5e6f"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn ours(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    propagator: Propagator,
) {
    let ours = Ours::start(|o| o.propagators(&[propagator]));
    let tracer = ours.tracer.clone();
    let context = SpanContext::new(TRACE_ID, SPAN_ID);
    c.bench_function(format!("{name}_inject"), |b| {
        b.iter(|| {
            let mut carrier = HashMap::new();
            tracer.inject(black_box(&context), &mut carrier);
            carrier
        })
    });
    let mut carrier = request_headers();
    tracer.inject(&context, &mut carrier);
    let extracted = tracer.extract(&carrier).expect("valid").expect("present");
    assert_eq!(extracted.span_id(), SPAN_ID);
    c.bench_function(format!("{name}_extract"), |b| {
        b.iter(|| tracer.extract(black_box(&carrier)))
    });
    drop(tracer);
    ours.finish();
}

fn propagation(c: &mut Criterion) {
    let mut group = c.benchmark_group("propagation");
    group.throughput(Throughput::Elements(1));

    ours(&mut group, "lightstep", Propagator::LightStep);
    ours(&mut group, "w3c", Propagator::TraceContext);

    let propagator = TraceContextPropagator::new();
    let context = Context::new().with_remote_span_context(OtelContext::new(
        TraceId::from(u128::from(TRACE_ID)),
        SpanId::from(SPAN_ID),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    ));
    group.bench_function("otel_w3c_inject", |b| {
        b.iter(|| {
            let mut carrier = HashMap::new();
            propagator.inject_context(black_box(&context), &mut carrier);
            carrier
        })
    });
    let mut carrier = request_headers();
    propagator.inject_context(&context, &mut carrier);
    let extracted = propagator.extract(&carrier);
    assert!(extracted.span().span_context().is_valid());
    group.bench_function("otel_w3c_extract", |b| {
        b.iter(|| propagator.extract(black_box(&carrier)))
    });

    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = propagation
}
criterion_main!(benches);
