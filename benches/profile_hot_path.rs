//! A small program for profilers: the hot path (start, two tags, finish) `N` times,
//! paced as in `hot_path` so no span is dropped, with ours reporting to a local
//! collector. The spans are made in the `profiled_*` functions, which callgrind can be
//! told to measure alone (`benches/profile.sh`, run by `make profile`). Not run by
//! `cargo bench` (`bench = false`).
//!
//! `profile_hot_path [N] [builder|nested|macro|noop|otel|fastrace]` (default 200 000, builder)

mod common;

use common::{fast, otel::Otel, Ours, CHUNK};
use fastrace::collector::SpanContext as FastContext;
use fastrace::local::LocalSpan;
use lightstep::Tracer;
use opentelemetry::trace::{Span as _, Tracer as _};
use opentelemetry::KeyValue;
use std::time::{Duration, Instant};

#[inline(never)]
fn profiled_builder(tracer: &Tracer, n: u64) {
    for _ in 0..n {
        let mut span = tracer.span("hot").start();
        span.set_tag("component", "bench");
        span.set_tag("attempt", 42);
    }
}

#[inline(never)]
fn profiled_macro(n: u64) {
    for _ in 0..n {
        let _span = lightstep::span!("hot", "component" => "bench", "attempt" => 42);
    }
}

#[inline(never)]
fn profiled_nested(tracer: &Tracer, n: u64) {
    for _ in 0..n.div_ceil(3) {
        let _a = tracer.span("level.1").start_active();
        let _b = tracer.span("level.2").start_active();
        let _c = tracer.span("level.3").start_active();
    }
}

#[inline(never)]
fn profiled_otel(tracer: &opentelemetry_sdk::trace::SdkTracer, n: u64) {
    for _ in 0..n {
        let mut span = tracer.start("hot");
        span.set_attribute(KeyValue::new("component", "bench"));
        span.set_attribute(KeyValue::new("attempt", 42));
        span.end();
    }
}

#[inline(never)]
fn profiled_fastrace(n: u64) {
    let root = fastrace::Span::root("root", FastContext::random());
    let _parent = root.set_local_parent();
    for _ in 0..n {
        let _span = LocalSpan::enter_with_local_parent("hot")
            .with_property(|| ("component", "bench"))
            .with_property(|| ("attempt", "42"));
    }
}

/// Minor page faults of the calling thread so far (Linux; 0 elsewhere).
fn thread_minor_faults() -> u64 {
    std::fs::read_to_string("/proc/thread-self/stat")
        .ok()
        .and_then(|stat| {
            // minflt is the 10th field of the line, the 8th after the command name,
            // which is in parentheses.
            let rest = &stat[stat.rfind(')')? + 2..];
            rest.split(' ').nth(7)?.parse().ok()
        })
        .unwrap_or(0)
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let n: u64 = args
        .next()
        .map(|a| a.parse().expect("N is a number"))
        .unwrap_or(200_000);
    let mode = args.next().unwrap_or_else(|| "builder".into());
    let started = Instant::now();
    let faults = thread_minor_faults();
    let timed: Duration;
    let mut outcome = String::new();
    match mode.as_str() {
        "builder" => {
            let ours = Ours::hot();
            timed = common::paced(
                n,
                CHUNK,
                |c| profiled_builder(&ours.tracer, c),
                || ours.flush(),
            );
            outcome = format!("{:?}", ours.finish());
        }
        "nested" => {
            let ours = Ours::hot();
            // (Chunks of whole nests: three spans an iteration.)
            timed = common::paced(
                n,
                CHUNK - CHUNK % 3,
                |c| profiled_nested(&ours.tracer, c),
                || ours.flush(),
            );
            outcome = format!("{:?}", ours.finish());
        }
        "macro" => {
            common::init_global();
            timed = common::paced(n, CHUNK, profiled_macro, common::flush_global);
            outcome = format!("{:?}", lightstep::global().stats());
        }
        "noop" => {
            timed = common::paced(n, CHUNK, profiled_macro, || {});
        }
        "otel" => {
            let otel = Otel::start();
            timed = common::paced(
                n,
                CHUNK,
                |c| profiled_otel(&otel.tracer, c),
                || otel.flush(),
            );
            outcome = format!("exported {}", otel.exported());
        }
        "fastrace" => {
            fast::init();
            timed = common::paced(n, CHUNK, profiled_fastrace, fast::flush);
            outcome = format!("reported {}", fast::reported());
        }
        other => panic!("unknown mode {other}: builder, nested, macro, noop, otel or fastrace"),
    }
    let faults = thread_minor_faults() - faults;
    eprintln!(
        "{n} spans ({mode}): {:.1} ns per span timed, {:.1} s in all, {:.3} page faults \
         per span on this thread; {outcome}",
        timed.as_nanos() as f64 / n as f64,
        started.elapsed().as_secs_f64(),
        faults as f64 / n as f64,
    );
}
