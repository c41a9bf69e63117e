//! A small program for profilers: the hot path (start, two tags, finish) `N` times on an
//! explicit tracer reporting to a local collector, paced as in `hot_path` so no span is
//! dropped. The spans are made in `profiled_chunk`, which callgrind can be told to
//! measure alone (`make profile`). Not run by `cargo bench` (`bench = false`).
//!
//! `profile_hot_path [N] [builder|macro]` (default 200 000, builder)

mod common;

use common::{Ours, CHUNK};
use lightstep::Tracer;

#[inline(never)]
fn profiled_chunk(tracer: &Tracer, n: u64) {
    for _ in 0..n {
        let mut span = tracer.span("hot").start();
        span.set_tag("component", "bench");
        span.set_tag("attempt", 42);
    }
}

#[inline(never)]
fn profiled_macro_chunk(n: u64) {
    for _ in 0..n {
        let _span = lightstep::span!("hot", "component" => "bench", "attempt" => 42);
    }
}

/// Minor page faults of the calling thread so far (Linux; 0 elsewhere).
fn thread_minor_faults() -> u64 {
    std::fs::read_to_string("/proc/thread-self/stat")
        .ok()
        .and_then(|stat| {
            // Fields after the command name, which is in parentheses: minflt is the 10th
            // field of the line, the 8th after the closing parenthesis.
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
    let started = std::time::Instant::now();
    let faults = thread_minor_faults();
    let mut timed = std::time::Duration::ZERO;
    let stats = match mode.as_str() {
        "macro" => {
            common::init_global();
            timed += common::paced(n, CHUNK, profiled_macro_chunk, common::flush_global);
            lightstep::global().stats()
        }
        _ => {
            let ours = Ours::hot();
            timed += common::paced(
                n,
                CHUNK,
                |c| profiled_chunk(&ours.tracer, c),
                || ours.flush(),
            );
            ours.finish()
        }
    };
    let faults = thread_minor_faults() - faults;
    eprintln!(
        "{n} spans ({mode}): {:.1} ns per span timed, {:.1} s in all, {:.3} page faults \
         per span on this thread; {stats:?}",
        timed.as_nanos() as f64 / n as f64,
        started.elapsed().as_secs_f64(),
        faults as f64 / n as f64,
    );
}
