//! End-to-end throughput of the three transports (HTTP, gRPC, OTLP) in one run: spans finished on this thread,
//! delivered by the reporter thread over loopback to a `LocalCollector` (which decodes and
//! keeps every report), with zero drops. A plain program with no async runtime of its
//! own: the gRPC transport's runtime lives inside the reporter thread.
//!
//! Spans go in chunks of `CHUNK` followed by a flush, so the tracer's buffer never
//! overflows; the figure is spans delivered (and acknowledged) per second of the whole
//! run. Rounds alternate HTTP, gRPC and OTLP; the best round of each is shown.
//!
//!     cargo run --release --example grpc_throughput --features grpc [-- SPANS [ROUNDS]]

use lightstep::collector::LocalCollector;
use lightstep::{Options, Tracer};
use std::time::{Duration, Instant};

const CHUNK: u64 = 10_000;

#[derive(Clone, Copy, PartialEq)]
enum Transport {
    Http,
    Grpc,
    Otlp,
}

impl Transport {
    fn name(self) -> &'static str {
        match self {
            Transport::Http => "HTTP",
            Transport::Grpc => "gRPC",
            Transport::Otlp => "OTLP",
        }
    }
}

struct Round {
    spans_per_sec: f64,
    reports: usize,
    bytes: usize,
}

fn round(transport: Transport, spans: u64) -> Result<Round, String> {
    let collector = LocalCollector::start().map_err(|e| e.to_string())?;
    let options = Options::new("throughput").component_name("grpc_throughput");
    let options = match transport {
        Transport::Http => options.collector_url(collector.url()),
        Transport::Grpc => options.use_grpc().collector_url(collector.grpc_url()),
        Transport::Otlp => options.use_otlp().collector_url(collector.url()),
    };
    let tracer = Tracer::new(options).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut made = 0;
    while made < spans {
        let chunk = CHUNK.min(spans - made);
        for i in 0..chunk {
            let mut span = tracer.span("hot").start();
            span.set_tag("component", "throughput");
            span.set_tag("attempt", i as i64);
        }
        made += chunk;
        tracer
            .flush(Duration::from_secs(30))
            .map_err(|e| format!("{}: flush: {e}", transport.name()))?;
    }
    let elapsed = started.elapsed();
    tracer
        .close(Duration::from_secs(30))
        .map_err(|e| e.to_string())?;
    let stats = tracer.stats();
    let received = collector.span_count() as u64;
    if stats.dropped != 0 || stats.delivered != spans || received != spans {
        return Err(format!(
            "{}: not a clean run: {stats:?}, collector has {received}",
            transport.name()
        ));
    }
    let reports = collector.reports();
    if reports.iter().any(|r| {
        r.grpc != (transport == Transport::Grpc)
            || r.otlp.is_some() != (transport == Transport::Otlp)
    }) {
        return Err(format!("{}: a report came the other way", transport.name()));
    }
    Ok(Round {
        spans_per_sec: spans as f64 / elapsed.as_secs_f64(),
        reports: reports.len(),
        bytes: reports.iter().map(|r| r.body_bytes).sum(),
    })
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let spans: u64 = args
        .next()
        .map(|a| a.parse().map_err(|_| "SPANS is a number".to_owned()))
        .transpose()?
        .unwrap_or(500_000);
    let rounds: usize = args
        .next()
        .map(|a| a.parse().map_err(|_| "ROUNDS is a number".to_owned()))
        .transpose()?
        .unwrap_or(3);
    let mut best = [
        (Transport::Http, 0.0f64),
        (Transport::Grpc, 0.0f64),
        (Transport::Otlp, 0.0f64),
    ];
    for r in 1..=rounds {
        for (transport, top) in &mut best {
            let result = round(*transport, spans)?;
            println!(
                "round {r} {:<4} {:>10.0} spans/s  ({} reports, {:.1} bytes/span, 0 dropped)",
                transport.name(),
                result.spans_per_sec,
                result.reports,
                result.bytes as f64 / spans as f64
            );
            *top = top.max(result.spans_per_sec);
        }
    }
    println!();
    for (transport, top) in best {
        println!(
            "{:<4} end to end, zero drops: {top:>10.0} spans/s (best of {rounds} rounds of {spans} spans)",
            transport.name()
        );
    }
    println!("gRPC / HTTP: {:.2}", best[1].1 / best[0].1);
    println!("OTLP / HTTP: {:.2}", best[2].1 / best[0].1);
    Ok(())
}
