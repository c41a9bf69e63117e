//! Contention: 1, 2 and 4 producer threads finishing hot-path spans (start, two tags,
//! finish) on one shared tracer at once, each through its own lane. One
//! iteration is one span, so the figure is the aggregate wall time per span (its inverse
//! is the aggregate throughput); the machine has 2 cores, which the reporter thread shares.
//!
//! Each round, every thread finishes its share of `ROUND` spans; the round is timed from
//! the first thread's start to the last thread's end (as the threads record them, so the
//! wake-up of parked threads is not counted), then the tracer is flushed, untimed, so no
//! span meets a full buffer. Drops are counted and recorded.
//!
//! `cargo bench --bench contention`

mod common;

use common::{Ours, Rotating};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lightstep::Tracer;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

/// Spans per round, all threads together: far below the tracer's bounds.
const ROUND: u64 = 12 * 1024;

#[inline(never)]
fn hot(tracer: &Tracer) {
    let mut span = tracer.span("hot").start();
    span.set_tag("component", "bench");
    span.set_tag("attempt", 42);
}

/// Runs `iters` spans spread over `threads` threads in rounds; returns the timed total.
fn contended(ours: &Ours, threads: u64, iters: u64) -> Duration {
    let start = Barrier::new(threads as usize + 1);
    let done = Barrier::new(threads as usize + 1);
    let round = AtomicU64::new(0); // spans in this round; 0 stops the workers
    let spans: Mutex<Vec<(Instant, Instant)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for index in 0..threads {
            let (start, done, round, spans) = (&start, &done, &round, &spans);
            let tracer = ours.tracer.clone();
            s.spawn(move || loop {
                start.wait();
                let total = round.load(Relaxed);
                if total == 0 {
                    break;
                }
                let n = total / threads + u64::from(index < total % threads);
                let began = Instant::now();
                for _ in 0..n {
                    hot(&tracer);
                }
                let ended = Instant::now();
                spans.lock().unwrap().push((began, ended));
                done.wait();
            });
        }
        let mut timed = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let total = left.min(ROUND);
            round.store(total, Relaxed);
            start.wait();
            done.wait();
            let mut spans = spans.lock().unwrap();
            let first = spans.iter().map(|s| s.0).min().expect("a thread ran");
            let last = spans.iter().map(|s| s.1).max().expect("a thread ran");
            timed += last - first;
            spans.clear();
            drop(spans);
            ours.flush();
            left -= total;
        }
        round.store(0, Relaxed);
        start.wait();
        timed
    })
}

fn contention(c: &mut Criterion) {
    let mut group = c.benchmark_group("contention");
    group.throughput(Throughput::Elements(1));
    common::paced_group(&mut group);
    group.measurement_time(Duration::from_secs(3));
    for threads in [1u64, 2, 4] {
        let mut ours = Rotating::hot();
        group.bench_function(BenchmarkId::new("lightstep_threads", threads), |b| {
            b.iter_custom(|iters| contended(ours.get(), threads, iters))
        });
        ours.report(&format!("contention/lightstep_threads/{threads}"));
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = contention
}
criterion_main!(benches);
