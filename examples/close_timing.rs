//! How long `close` takes with the collector up, down (port closed) and black-holed
//! (accepts, never answers), against the timeout it was given.
//!
//!     cargo run --release --example close_timing

use lightstep::collector::LocalCollector;
use lightstep::{Options, Tracer};
use std::net::TcpListener;
use std::time::{Duration, Instant};

fn run(label: &str, url: &str, timeout: Duration, spans: usize) -> Result<(), lightstep::Error> {
    let mut times = Vec::new();
    let mut delivered_all = true;
    for _ in 0..5 {
        let options = Options::new("close-timing")
            .collector_url(url)
            .report_timeout(Duration::from_secs(30));
        let tracer = Tracer::new(options)?;
        for _ in 0..spans {
            tracer.span("work").start().finish();
        }
        let started = Instant::now();
        delivered_all &= tracer.close(timeout).is_ok();
        times.push(started.elapsed());
    }
    times.sort();
    println!(
        "{label:<44} close_timeout {timeout:>5.1?}, {spans:>6} spans: median {:>8.2?}, max {:>8.2?}, {}",
        times[2],
        times[4],
        if delivered_all { "delivered" } else { "not delivered (Err)" }
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    lightstep::set_global_event_handler(|_| {});
    let collector = LocalCollector::start()?;
    run(
        "collector up",
        &collector.url(),
        Duration::from_secs(5),
        1_000,
    )?;
    run(
        "collector up",
        &collector.url(),
        Duration::from_secs(5),
        100_000,
    )?;
    let closed = TcpListener::bind("127.0.0.1:0")?;
    let down = format!("http://{}", closed.local_addr()?);
    drop(closed);
    run(
        "collector down (port closed)",
        &down,
        Duration::from_secs(1),
        1_000,
    )?;
    let blackhole = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", blackhole.local_addr()?);
    run(
        "collector black-holed (accepts, never answers)",
        &url,
        Duration::from_secs(1),
        1_000,
    )?;
    Ok(())
}
