//! End to end: spans finished on one producer thread, delivered by the reporter thread
//! over loopback HTTP to a `LocalCollector` (which decodes and keeps every report), with
//! the tracer at its default options (`max_buffered_spans` 100 000, reporting periods
//! 0.5 s / 2.5 s). Not a criterion benchmark: it searches for rates.
//!
//! 1. The highest sustained rate with zero drops: the producer is paced (a 250 µs tick)
//!    at a target rate for `TRIAL`; after it stops, the tracer is flushed and `Tracer::stats`
//!    must show `dropped == 0` and `delivered == finished`. The rate doubles until a trial
//!    drops, is bisected, then confirmed over a longer run (`CONFIRM`).
//! 2. Overload: the drop rate at twice that rate, and with the producer unpaced.
//! 3. The bytes each span adds to a report on the wire.
//!
//! Everything shares the machine's two cores: producer, reporter, and the collector's
//! HTTP server and protobuf decoding, which a real deployment runs elsewhere.
//!
//! `cargo bench --bench end_to_end`

mod common;

use common::Ours;
use lightstep::Tracer;
use std::time::{Duration, Instant};

const TRIAL: Duration = Duration::from_secs(3);
const CONFIRM: Duration = Duration::from_secs(8);
const TICK: Duration = Duration::from_micros(250);

#[inline(never)]
fn hot(tracer: &Tracer) {
    let mut span = tracer.span("hot").start();
    span.set_tag("component", "bench");
    span.set_tag("attempt", 42);
}

#[derive(Debug, Clone, Copy)]
struct Trial {
    target: Option<f64>,
    produced: u64,
    delivered: u64,
    dropped: u64,
    /// Spans per second the producer achieved.
    produced_rate: f64,
    /// Delivered spans per second of producing (a backlog delivered by the final flush
    /// counts: no span was lost).
    delivered_rate: f64,
    /// How long the final flush took (the backlog left when the producer stopped).
    flush_secs: f64,
}

impl Trial {
    fn zero_drop(&self) -> bool {
        self.dropped == 0 && self.delivered == self.produced
    }

    fn drop_rate(&self) -> f64 {
        self.dropped as f64 / self.produced.max(1) as f64
    }

    fn print(&self, label: &str) {
        eprintln!(
            "{label}: target {}, produced {} ({:.0}/s), delivered {}, dropped {} ({:.2}%), \
             final flush {:.3} s",
            self.target
                .map(|r| format!("{r:.0}/s"))
                .unwrap_or_else(|| "unpaced".into()),
            self.produced,
            self.produced_rate,
            self.delivered,
            self.dropped,
            100.0 * self.drop_rate(),
            self.flush_secs,
        );
    }
}

/// Produces spans at `target` per second (as fast as possible with `None`) for `length`.
fn trial(target: Option<f64>, length: Duration) -> Trial {
    let ours = Ours::start(|options| options); // default options
    let start = Instant::now();
    let mut produced = 0u64;
    loop {
        let elapsed = start.elapsed();
        if elapsed >= length {
            break;
        }
        match target {
            Some(rate) => {
                let due = (rate * elapsed.as_secs_f64()) as u64;
                while produced < due {
                    hot(&ours.tracer);
                    produced += 1;
                }
                std::thread::sleep(TICK);
            }
            None => {
                for _ in 0..1024 {
                    hot(&ours.tracer);
                }
                produced += 1024;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let flushing = Instant::now();
    ours.flush();
    let flush_secs = flushing.elapsed().as_secs_f64();
    let stats = ours.finish();
    assert_eq!(stats.finished, produced);
    Trial {
        target,
        produced,
        delivered: stats.delivered,
        dropped: stats.dropped,
        produced_rate: produced as f64 / secs,
        delivered_rate: stats.delivered as f64 / secs,
        flush_secs,
    }
}

/// The highest rate found with zero drops, and the trial that confirmed it.
fn search() -> Trial {
    let mut good: Option<Trial> = None;
    let mut bad: Option<f64> = None;
    let mut rate = 50_000.0;
    while rate <= 6_400_000.0 {
        let t = trial(Some(rate), TRIAL);
        t.print("search");
        if t.zero_drop() {
            good = Some(t);
            rate *= 2.0;
        } else {
            bad = Some(rate);
            if good.is_some() {
                break;
            }
            rate /= 2.0;
            if rate < 1_000.0 {
                break;
            }
        }
    }
    let Some(mut best) = good else {
        panic!("no rate down to 1000 spans/s was delivered without drops");
    };
    if let Some(mut high) = bad.filter(|&b| b > best.target.unwrap_or(0.0)) {
        for _ in 0..3 {
            let low = best.target.expect("paced");
            let mid = (low * high).sqrt();
            let t = trial(Some(mid), TRIAL);
            t.print("bisect");
            if t.zero_drop() {
                best = t;
            } else {
                high = mid;
            }
        }
    }
    let mut rate = best.target.expect("paced");
    for _ in 0..4 {
        let t = trial(Some(rate), CONFIRM);
        t.print("confirm");
        if t.zero_drop() {
            return t;
        }
        rate *= 0.85;
    }
    panic!("no rate held without drops over {CONFIRM:?}");
}

/// Bytes on the wire per span: whole report bodies over span count, and one span alone.
fn bytes_per_span() -> (f64, f64) {
    let ours = Ours::start(|options| options);
    for _ in 0..10_000 {
        hot(&ours.tracer);
    }
    ours.flush();
    let reports = ours.collector.reports();
    let bodies: usize = reports.iter().map(|r| r.body_bytes).sum();
    let spans: usize = reports.iter().map(|r| r.request.spans.len()).sum();
    let one = prost::encoding::message::encoded_len(3, &reports[0].request.spans[0]);
    ours.finish();
    (bodies as f64 / spans as f64, one as f64)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` asks every bench binary for its benchmarks
    }
    let started = Instant::now();
    let (report_bytes, span_bytes) = bytes_per_span();
    eprintln!(
        "end_to_end: {span_bytes} bytes per hot-path span in a report, \
         {report_bytes:.1} bytes per span including the report envelope"
    );
    let best = search();
    best.print("highest zero-drop rate");
    let double = trial(Some(2.0 * best.target.expect("paced")), TRIAL);
    double.print("twice that rate");
    let unpaced = trial(None, TRIAL);
    unpaced.print("unpaced producer");
    common::record(
        "end_to_end",
        &[
            ("zero_drop_rate", best.target.expect("paced")),
            ("zero_drop_delivered_rate", best.delivered_rate),
            ("zero_drop_spans", best.produced as f64),
            ("zero_drop_seconds", CONFIRM.as_secs_f64()),
            ("zero_drop_final_flush_seconds", best.flush_secs),
            ("double_rate", double.target.expect("paced")),
            ("double_produced_rate", double.produced_rate),
            ("double_drop_rate", double.drop_rate()),
            ("double_delivered_rate", double.delivered_rate),
            ("unpaced_produced_rate", unpaced.produced_rate),
            ("unpaced_drop_rate", unpaced.drop_rate()),
            ("unpaced_delivered_rate", unpaced.delivered_rate),
            ("wire_bytes_per_span", span_bytes),
            ("wire_bytes_per_span_with_envelope", report_bytes),
        ],
    );
    eprintln!(
        "end_to_end: done in {:.0} s",
        started.elapsed().as_secs_f64()
    );
}
