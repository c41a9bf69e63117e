//! What a span costs the caller through the `tracing` layer, next to a `span!` span: start,
//! two tags, finish, on the global tracer reporting to a local collector.
//!
//!     cargo bench --bench tracing_layer
//!
//! Each round times a batch of spans of each kind in turn (interleaved and rotated, so
//! drift hits them alike), then flushes untimed, so every span is delivered and none dropped; the
//! medians (and 90th percentiles) of the per-span batch means are printed. `tracing`
//! spans are measured twice, under the same scoped dispatcher: with a bare registry (what
//! `tracing` itself costs) and with the registry plus `lightstep::tracing_layer()`.

use lightstep::collector::LocalCollector;
use lightstep::{span, Options};
use std::hint::black_box;
use std::time::Instant;
use tracing::{dispatcher, Dispatch};
use tracing_subscriber::layer::SubscriberExt;

const BATCH: u32 = 1_000;
const ROUNDS: usize = 300;

fn main() -> Result<(), lightstep::Error> {
    if cfg!(debug_assertions) {
        eprintln!("note: a debug build; run with --release for meaningful numbers");
    }
    let collector = LocalCollector::start()?;
    let tracer = lightstep::init(
        Options::new("overhead")
            .collector_url(collector.url())
            .component_name("tracing-overhead"),
    )?;
    let layered = Dispatch::new(tracing_subscriber::registry().with(lightstep::tracing_layer()));
    let bare = Dispatch::new(tracing_subscriber::registry());

    let ls_span = || {
        for i in 0..BATCH {
            let _span = span!("op", "k1" => i64::from(black_box(i)), "k2" => true);
        }
    };
    let tracing_span = || {
        for i in 0..BATCH {
            let _span =
                tracing::info_span!("op", k1 = i64::from(black_box(i)), k2 = true).entered();
        }
    };

    // Warm up: thread-locals, the registry's slab, the channel, the collector's connection.
    for _ in 0..20 {
        ls_span();
        dispatcher::with_default(&layered, tracing_span);
        dispatcher::with_default(&bare, tracing_span);
        lightstep::flush();
    }

    let (mut ls, mut layer, mut registry) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        // Each kind goes first in turn: the first batch after a flush meets a busier machine.
        for kind in (0..3).map(|k| (k + round) % 3) {
            match kind {
                0 => ls.push(time(ls_span)),
                1 => layer.push(dispatcher::with_default(&layered, || time(tracing_span))),
                _ => registry.push(dispatcher::with_default(&bare, || time(tracing_span))),
            }
        }
        // Untimed: deliver what the round made, so no span meets a full queue (a dropped
        // span costs less than a delivered one and would flatter the figures).
        lightstep::flush();
    }
    lightstep::close();

    let (ls, layer, registry) = (summary(ls), summary(layer), summary(registry));
    println!("per span, start + 2 tags + finish ({ROUNDS} rounds of {BATCH}):");
    println!(
        "  {:<44} {:>7.1} ns median  {:>7.1} ns p90",
        "lightstep::span!", ls.0, ls.1
    );
    println!(
        "  {:<44} {:>7.1} ns median  {:>7.1} ns p90",
        "tracing span, registry + lightstep layer", layer.0, layer.1
    );
    println!(
        "  {:<44} {:>7.1} ns median  {:>7.1} ns p90",
        "tracing span, bare registry (no layer)", registry.0, registry.1
    );
    println!(
        "  the layer adds {:.1} ns to a tracing span; a span through it costs {:.1}x a span! span",
        layer.0 - registry.0,
        layer.0 / ls.0
    );
    let stats = tracer.stats();
    println!(
        "tracer: finished {}, delivered {}, dropped {}; the collector received {} spans",
        stats.finished,
        stats.delivered,
        stats.dropped,
        collector.span_count()
    );
    Ok(())
}

/// Nanoseconds per span of one batch.
fn time(batch: impl Fn()) -> f64 {
    let start = Instant::now();
    batch();
    start.elapsed().as_nanos() as f64 / f64::from(BATCH)
}

/// The median and the 90th percentile.
fn summary(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.9))
}
