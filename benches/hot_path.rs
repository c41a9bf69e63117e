//! The caller's hot path: start a span, set two tags, finish it. Ours (builder and
//! `span!`) against `opentelemetry_sdk` (batch processor) and `fastrace` (local spans),
//! in one criterion group so the figures come from the same run.
//!
//! Every tracer reports somewhere: ours to a `LocalCollector` over loopback, the peers to
//! exporters that count and discard. Spans are timed in chunks of `common::CHUNK`; after
//! each chunk, untimed, every tracer flushes, so no span meets a full queue and none is
//! dropped (the counts are printed and recorded; a non-zero drop count would show).
//!
//! `cargo bench --bench hot_path`

mod common;

use common::{fast, init_global, otel::Otel, paced, Rotating, Tally};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fastrace::collector::SpanContext as FastContext;
use fastrace::local::LocalSpan;
use opentelemetry::trace::{Span as _, Tracer as _};
use opentelemetry::KeyValue;

/// Ours, explicit tracer: `Tracer::span(..).start()`, `set_tag` twice, drop.
#[inline(never)]
fn ours_builder(tracer: &lightstep::Tracer) {
    let mut span = tracer.span("hot").start();
    span.set_tag("component", "bench");
    span.set_tag("attempt", 42);
}

/// Ours without the tags (start, finish): no heap allocation at all, shown to isolate
/// what the tags' `Vec` costs.
#[inline(never)]
fn ours_bare(tracer: &lightstep::Tracer) {
    let _span = tracer.span("hot").start();
}

/// Ours, the global tracer through `span!` with two tags.
#[inline(never)]
fn ours_macro() {
    let _span = lightstep::span!("hot", "component" => "bench", "attempt" => 42);
}

#[inline(never)]
fn otel_span(tracer: &opentelemetry_sdk::trace::SdkTracer) {
    let mut span = tracer.start("hot");
    span.set_attribute(KeyValue::new("component", "bench"));
    span.set_attribute(KeyValue::new("attempt", 42));
    span.end();
}

/// fastrace properties are strings: the integer tag is given as a static string, which
/// spares fastrace the formatting a real integer would cost.
#[inline(never)]
fn fastrace_span() {
    let _span = LocalSpan::enter_with_local_parent("hot")
        .with_property(|| ("component", "bench"))
        .with_property(|| ("attempt", "42"));
}

/// fastrace without the two tags: not the same workload, shown only to place the
/// figure quoted for fastrace's bare local span.
#[inline(never)]
fn fastrace_bare_span() {
    let _span = LocalSpan::enter_with_local_parent("hot");
}

/// `n` fastrace local spans under one root (the root's cost is part of the timing).
fn fastrace_chunk(n: u64) {
    let root = fastrace::Span::root("root", FastContext::random());
    let _parent = root.set_local_parent();
    for _ in 0..n {
        fastrace_span();
    }
}

fn fastrace_bare_chunk(n: u64) {
    let root = fastrace::Span::root("root", FastContext::random());
    let _parent = root.set_local_parent();
    for _ in 0..n {
        fastrace_bare_span();
    }
}

fn hot_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("hot_path");
    group.throughput(Throughput::Elements(1));
    common::paced_group(&mut group);

    // Ours, Tracer::new, reporting to its own collector (replaced now and then, so the
    // spans the collector keeps in memory stay bounded).
    let mut ours = Rotating::hot();
    group.bench_function("lightstep_builder", |b| {
        b.iter_custom(|iters| {
            let ours = ours.get();
            paced(
                iters,
                common::CHUNK,
                |n| (0..n).for_each(|_| ours_builder(&ours.tracer)),
                || ours.flush(),
            )
        })
    });
    ours.report("hot_path/lightstep_builder");

    let mut ours = Rotating::hot();
    group.bench_function("lightstep_without_tags", |b| {
        b.iter_custom(|iters| {
            let ours = ours.get();
            paced(
                iters,
                common::CHUNK,
                |n| (0..n).for_each(|_| ours_bare(&ours.tracer)),
                || ours.flush(),
            )
        })
    });
    ours.report("hot_path/lightstep_without_tags");

    // Ours, span!: the global tracer, one collector for the whole process.
    init_global();
    let global = lightstep::global();
    let tally = Tally::default();
    let before = global.stats();
    group.bench_function("lightstep_span_macro", |b| {
        b.iter_custom(|iters| {
            paced(
                iters,
                common::CHUNK,
                |n| (0..n).for_each(|_| ours_macro()),
                common::flush_global,
            )
        })
    });
    common::flush_global();
    tally.add_delta(&before, &global.stats());
    tally.report("hot_path/lightstep_span_macro");

    // opentelemetry_sdk: BatchSpanProcessor, default settings, counting exporter.
    let tally = Tally::default();
    {
        let otel = Otel::start();
        let mut finished = 0;
        group.bench_function("opentelemetry_sdk", |b| {
            b.iter_custom(|iters| {
                finished += iters;
                paced(
                    iters,
                    common::CHUNK,
                    |n| (0..n).for_each(|_| otel_span(&otel.tracer)),
                    || otel.flush(),
                )
            })
        });
        let exported = otel.exported();
        tally.add(finished, exported, finished.saturating_sub(exported));
    }
    tally.report("hot_path/opentelemetry_sdk");

    // fastrace: local spans under a root per chunk, counting reporter.
    fast::init();
    let tally = Tally::default();
    let before = fast::reported();
    let mut finished = 0;
    let mut roots = 0;
    group.bench_function("fastrace", |b| {
        b.iter_custom(|iters| {
            finished += iters;
            roots += iters.div_ceil(common::CHUNK);
            paced(iters, common::CHUNK, fastrace_chunk, fast::flush)
        })
    });
    let reported = fast::reported() - before - roots;
    tally.add(finished, reported, finished.saturating_sub(reported));
    tally.report("hot_path/fastrace");

    group.bench_function("fastrace_without_tags", |b| {
        b.iter_custom(|iters| paced(iters, common::CHUNK, fastrace_bare_chunk, fast::flush))
    });

    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = hot_path
}
criterion_main!(benches);
