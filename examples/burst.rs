//! Bursts against drops: one thread finishes N spans (two tags each) as fast as it can,
//! at default options, against a healthy local collector and against one that takes a
//! second per request; prints how many were dropped and what the tracer held at most.
//!
//!     cargo run --release --example burst

use lightstep::collector::{Fault, LocalCollector};
use lightstep::{Options, Tracer};
use std::time::{Duration, Instant};

fn burst(spans: u64, slow: bool) -> Result<(), lightstep::Error> {
    let collector = LocalCollector::start()?;
    if slow {
        collector.set_fault(Fault::Slow(Duration::from_secs(1)));
    }
    let tracer = Tracer::new(
        Options::new("burst")
            .collector_url(collector.url())
            .component_name("burst"),
    )?;
    let started = Instant::now();
    let mut most_held = 0;
    for i in 0..spans {
        tracer
            .span("burst")
            .tag("i", i)
            .tag("ok", true)
            .start()
            .finish();
        if i % 10_000 == 0 {
            most_held = most_held.max(tracer.stats().pending);
        }
    }
    let took = started.elapsed();
    let stats = tracer.stats();
    most_held = most_held.max(stats.pending);
    println!(
        "{:>7} spans in {:>7.1?} ({:>5.2} M/s), collector {:<13} dropped {:>7}, held at most {:>7}",
        spans,
        took,
        spans as f64 / took.as_secs_f64() / 1e6,
        if slow { "1 s/request" } else { "healthy" },
        stats.dropped,
        most_held
    );
    collector.set_fault(Fault::None);
    let _ = tracer.close(Duration::from_secs(30));
    Ok(())
}

fn main() -> Result<(), lightstep::Error> {
    lightstep::set_global_event_handler(|_| {});
    for spans in [50_000, 100_000, 150_000, 200_000, 400_000] {
        burst(spans, false)?;
    }
    for spans in [50_000, 150_000, 300_000] {
        burst(spans, true)?;
    }
    Ok(())
}
