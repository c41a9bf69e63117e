//! Three nested active spans (each the parent of the next through the thread's active
//! span), finished in reverse order: ours (`span!` on the global tracer, and
//! `start_active` on an explicit tracer) against `opentelemetry_sdk` (spans made active
//! with `mark_span_as_active`) and `fastrace` (nested local spans). One iteration is
//! three spans. Paced and accounted like `hot_path`, in chunks of 600 iterations (1800 spans).
//!
//! `cargo bench --bench nested`

mod common;

use common::{fast, init_global, otel::Otel, paced, Rotating, Tally};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fastrace::collector::SpanContext as FastContext;
use fastrace::local::LocalSpan;
use opentelemetry::trace::{mark_span_as_active, Tracer as _};

/// Iterations (of three spans) per timed chunk: 1800 spans, safely below
/// `opentelemetry_sdk`'s default queue of 2048.
const CHUNK: u64 = 600;

#[inline(never)]
fn ours_macro() {
    let _a = lightstep::span!("level.1");
    let _b = lightstep::span!("level.2");
    let _c = lightstep::span!("level.3");
}

#[inline(never)]
fn ours_builder(tracer: &lightstep::Tracer) {
    let _a = tracer.span("level.1").start_active();
    let _b = tracer.span("level.2").start_active();
    let _c = tracer.span("level.3").start_active();
}

#[inline(never)]
fn otel_nested(tracer: &opentelemetry_sdk::trace::SdkTracer) {
    let _a = mark_span_as_active(tracer.start("level.1"));
    let _b = mark_span_as_active(tracer.start("level.2"));
    let _c = mark_span_as_active(tracer.start("level.3"));
}

#[inline(never)]
fn fastrace_nested() {
    let _a = LocalSpan::enter_with_local_parent("level.1");
    let _b = LocalSpan::enter_with_local_parent("level.2");
    let _c = LocalSpan::enter_with_local_parent("level.3");
}

fn fastrace_chunk(n: u64) {
    let root = fastrace::Span::root("root", FastContext::random());
    let _parent = root.set_local_parent();
    for _ in 0..n {
        fastrace_nested();
    }
}

fn nested(c: &mut Criterion) {
    let mut group = c.benchmark_group("nested");
    group.throughput(Throughput::Elements(3));
    common::paced_group(&mut group);

    init_global();
    let global = lightstep::global();
    let tally = Tally::default();
    let before = global.stats();
    group.bench_function("lightstep_span_macro", |b| {
        b.iter_custom(|iters| {
            paced(
                iters,
                CHUNK,
                |n| (0..n).for_each(|_| ours_macro()),
                common::flush_global,
            )
        })
    });
    common::flush_global();
    tally.add_delta(&before, &global.stats());
    tally.report("nested/lightstep_span_macro");

    let mut ours = Rotating::hot();
    group.bench_function("lightstep_start_active", |b| {
        b.iter_custom(|iters| {
            let ours = ours.get();
            paced(
                iters,
                CHUNK,
                |n| (0..n).for_each(|_| ours_builder(&ours.tracer)),
                || ours.flush(),
            )
        })
    });
    ours.report("nested/lightstep_start_active");

    let tally = Tally::default();
    {
        let otel = Otel::start();
        let mut finished = 0;
        group.bench_function("opentelemetry_sdk", |b| {
            b.iter_custom(|iters| {
                finished += 3 * iters;
                paced(
                    iters,
                    CHUNK,
                    |n| (0..n).for_each(|_| otel_nested(&otel.tracer)),
                    || otel.flush(),
                )
            })
        });
        let exported = otel.exported();
        tally.add(finished, exported, finished.saturating_sub(exported));
    }
    tally.report("nested/opentelemetry_sdk");

    fast::init();
    let tally = Tally::default();
    let before = fast::reported();
    let mut finished = 0;
    let mut roots = 0;
    group.bench_function("fastrace", |b| {
        b.iter_custom(|iters| {
            finished += 3 * iters;
            roots += iters.div_ceil(CHUNK);
            paced(iters, CHUNK, fastrace_chunk, fast::flush)
        })
    });
    let reported = fast::reported() - before - roots;
    tally.add(finished, reported, finished.saturating_sub(reported));
    tally.report("nested/fastrace");

    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = nested
}
criterion_main!(benches);
