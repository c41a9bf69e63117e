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
//! Each producer also reads its own CPU time around its share (Linux): its time on a CPU
//! per span, which is what contention (shared cache lines, locks) would raise, apart from
//! the rest of its own wall time, spent waiting for a CPU, which 4 threads on 2 cores must
//! spend.
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
/// This thread's CPU time so far, in nanoseconds (`CLOCK_THREAD_CPUTIME_ID`, which the
/// kernel brings up to date when asked); `None` off Linux.
#[cfg(target_os = "linux")]
fn thread_cpu_ns() -> Option<u64> {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, time: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut time = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a pointer to a live, writable timespec.
    let status = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut time) };
    (status == 0).then(|| time.tv_sec as u64 * 1_000_000_000 + time.tv_nsec as u64)
}

#[cfg(not(target_os = "linux"))]
fn thread_cpu_ns() -> Option<u64> {
    None
}

/// What the producer threads of one thread count spent, summed over their rounds
/// (`waiting_ns`: their own wall time off a CPU).
#[derive(Default)]
struct Sched {
    spans: u64,
    on_cpu_ns: u64,
    waiting_ns: u64,
}

fn contended(ours: &Ours, threads: u64, iters: u64, sched: &Mutex<Sched>) -> Duration {
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
                let cpu_before = thread_cpu_ns();
                let began = Instant::now();
                for _ in 0..n {
                    hot(&tracer);
                }
                let ended = Instant::now();
                if let (Some(before), Some(after)) = (cpu_before, thread_cpu_ns()) {
                    let on_cpu = after.saturating_sub(before);
                    let own = (ended - began).as_nanos() as u64;
                    let mut sched = sched.lock().unwrap();
                    sched.spans += n;
                    sched.on_cpu_ns += on_cpu;
                    sched.waiting_ns += own.saturating_sub(on_cpu);
                }
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
        let sched = Mutex::new(Sched::default());
        group.bench_function(BenchmarkId::new("lightstep_threads", threads), |b| {
            b.iter_custom(|iters| contended(ours.get(), threads, iters, &sched))
        });
        ours.report(&format!("contention/lightstep_threads/{threads}"));
        let sched = sched.into_inner().unwrap();
        if sched.spans > 0 {
            let per_span = |ns: u64| ns as f64 / sched.spans as f64;
            common::record(
                &format!("sched_threads_{threads}"),
                &[
                    ("on_cpu_ns_per_span", per_span(sched.on_cpu_ns)),
                    ("waiting_ns_per_span", per_span(sched.waiting_ns)),
                ],
            );
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = contention
}
criterion_main!(benches);
