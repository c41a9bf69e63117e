//! The no-op tracer: what a span costs before `lightstep::init` (library code that is
//! instrumented, in a program that never turns tracing on). This binary never calls
//! `init`. For context, the peers' equivalents: `opentelemetry`'s global tracer with no
//! provider installed, and a `fastrace` local span with no parent.
//!
//! `cargo bench --bench noop`

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fastrace::local::LocalSpan;
use opentelemetry::trace::{Span as _, Tracer as _};
use opentelemetry::KeyValue;
use std::hint::black_box;

fn noop(c: &mut Criterion) {
    assert!(lightstep::global().is_noop(), "this binary must not init");
    let mut group = c.benchmark_group("noop");
    group.throughput(Throughput::Elements(1));

    group.bench_function("lightstep_global_builder", |b| {
        b.iter(|| {
            let mut span = lightstep::global().span("hot").start();
            span.set_tag("component", "bench");
            span.set_tag("attempt", 42);
            black_box(&span);
        })
    });

    group.bench_function("lightstep_span_macro", |b| {
        b.iter(|| {
            let span = lightstep::span!("hot", "component" => "bench", "attempt" => 42);
            black_box(&span);
        })
    });

    let tracer = opentelemetry::global::tracer("bench");
    group.bench_function("opentelemetry_global_noop", |b| {
        b.iter(|| {
            let mut span = tracer.start("hot");
            span.set_attribute(KeyValue::new("component", "bench"));
            span.set_attribute(KeyValue::new("attempt", 42));
            span.end();
            black_box(&span);
        })
    });

    group.bench_function("fastrace_no_parent", |b| {
        b.iter(|| {
            let span = LocalSpan::enter_with_local_parent("hot")
                .with_property(|| ("component", "bench"))
                .with_property(|| ("attempt", "42"));
            black_box(&span);
        })
    });

    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = noop
}
criterion_main!(benches);
