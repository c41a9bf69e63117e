//! Memory stays bounded while the collector is down: finishes 10 million spans against a
//! closed port and prints the resident set size before, during and after.
//!
//!     cargo run --release --example soak [-- SPANS]
//!     cargo run --release --example soak -- 2000000 big   # one 4 KiB tag per span
//!
//! With `big`, each span carries a 4 KiB tag, so `max_buffered_bytes` (64 MiB by
//! default) is the bound that holds, long before `max_buffered_spans`.

use lightstep::{Options, Tracer};
use std::net::TcpListener;
use std::time::{Duration, Instant};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let spans: u64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000_000);
    let big = std::env::args().nth(2).as_deref() == Some("big");
    let payload = "x".repeat(4096);
    lightstep::set_global_event_handler(|_| {});
    // A port with nothing listening: every report fails.
    let closed = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", closed.local_addr()?);
    drop(closed);
    let options = Options::new("soak")
        .collector_url(url)
        .component_name("soak");
    let max = Options::DEFAULT_MAX_BUFFERED_SPANS;
    let max_bytes = Options::DEFAULT_MAX_BUFFERED_BYTES;
    let tracer = Tracer::new(options)?;

    let start_rss = rss_kib();
    println!(
        "start: RSS {start_rss} KiB, max_buffered_spans {max}, max_buffered_bytes {} MiB, \
         finishing {spans} spans{}",
        max_bytes >> 20,
        if big { " with a 4 KiB tag each" } else { "" }
    );
    let started = Instant::now();
    let mut peak_rss = start_rss;
    let mut most_held = 0;
    for i in 0..spans {
        let mut span = tracer.span("soak").start();
        span.set_tag("i", i);
        span.set_tag("component", "soak");
        if big {
            span.set_tag("payload", payload.clone());
        }
        drop(span);
        let every = if big { 100_000 } else { 1_000_000 };
        if i % every == every - 1 {
            let stats = tracer.stats();
            most_held = most_held.max(stats.pending);
            peak_rss = peak_rss.max(rss_kib());
            println!(
                "{:>9} spans: RSS {} KiB, held {}, dropped {}",
                i + 1,
                rss_kib(),
                stats.pending,
                stats.dropped
            );
        }
    }
    let elapsed = started.elapsed();
    let _ = tracer.close(Duration::from_secs(1));
    let stats = tracer.stats();
    println!(
        "end: RSS {} KiB (start {start_rss}, peak {peak_rss}); held at most {most_held} spans; \
         {:.1} M spans/s on the caller",
        rss_kib(),
        spans as f64 / elapsed.as_secs_f64() / 1e6
    );
    println!("{stats:?}");
    assert_eq!(stats.dropped + stats.delivered, stats.finished);
    Ok(())
}
