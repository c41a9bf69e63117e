//! The hot path at a low rate: one span (start, two tags, finish) after each idle gap of
//! `GAP`, as in a CLI or a lightly loaded service, where the tracer's background thread
//! has gone to sleep between spans. Each span is timed on its own; the figures are the
//! median, p90 and p99 of `SPANS` spans, less the cost of reading the clock twice.
//! Ours (explicit tracer and `span!`) and both peers, same run.
//!
//! Not a criterion benchmark (criterion times back-to-back iterations, which is exactly
//! what this avoids).
//!
//! `cargo bench --bench sporadic`

mod common;

use common::{fast, otel::Otel, Ours};
use fastrace::collector::SpanContext as FastContext;
use fastrace::local::LocalSpan;
use opentelemetry::trace::{Span as _, Tracer as _};
use opentelemetry::KeyValue;
use std::time::{Duration, Instant};

const SPANS: usize = 2000;
const GAP: Duration = Duration::from_micros(500);

/// The median cost of two back-to-back clock readings, subtracted from every sample.
fn clock_overhead() -> f64 {
    let mut samples: Vec<u128> = (0..10_001)
        .map(|_| {
            let start = Instant::now();
            start.elapsed().as_nanos()
        })
        .collect();
    samples.sort_unstable();
    samples[samples.len() / 2] as f64
}

fn measure(name: &str, overhead: f64, mut span: impl FnMut()) {
    // A few spans first, so one-time set-up (thread-locals, connections) is not counted.
    for _ in 0..20 {
        span();
        std::thread::sleep(GAP);
    }
    let mut samples = Vec::with_capacity(SPANS);
    for _ in 0..SPANS {
        std::thread::sleep(GAP);
        let start = Instant::now();
        span();
        samples.push((start.elapsed().as_nanos() as f64 - overhead).max(0.0));
    }
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    let (p50, p90, p99) = (at(0.5), at(0.9), at(0.99));
    eprintln!(
        "sporadic/{name}: median {p50:.0} ns, p90 {p90:.0} ns, p99 {p99:.0} ns \
         (one span per {GAP:?} of idle)"
    );
    common::record(
        &format!("sporadic/{name}"),
        &[
            ("median_ns", p50),
            ("p90_ns", p90),
            ("p99_ns", p99),
            ("gap_us", GAP.as_secs_f64() * 1e6),
            ("spans", SPANS as f64),
        ],
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let overhead = clock_overhead();

    let ours = Ours::hot();
    measure("lightstep_builder", overhead, || {
        let mut span = ours.tracer.span("hot").start();
        span.set_tag("component", "bench");
        span.set_tag("attempt", 42);
    });
    let stats = ours.finish();
    assert_eq!(stats.dropped, 0, "{stats:?}");

    common::init_global();
    measure("lightstep_span_macro", overhead, || {
        let _span = lightstep::span!("hot", "component" => "bench", "attempt" => 42);
    });
    common::flush_global();

    let otel = Otel::start();
    measure("opentelemetry_sdk", overhead, || {
        let mut span = otel.tracer.start("hot");
        span.set_attribute(KeyValue::new("component", "bench"));
        span.set_attribute(KeyValue::new("attempt", 42));
        span.end();
    });
    drop(otel);

    fast::init();
    let root = fastrace::Span::root("root", FastContext::random());
    let parent = root.set_local_parent();
    measure("fastrace", overhead, || {
        let _span = LocalSpan::enter_with_local_parent("hot")
            .with_property(|| ("component", "bench"))
            .with_property(|| ("attempt", "42"));
    });
    drop(parent);
    drop(root);
    fast::flush();
}
