//! The fault suite: a real collector on loopback misbehaving in every way we know, and in
//! each mode exact accounting, no duplicates, retries after recovery, and bounded
//! `flush`/`close`.
//!
//! Each test prints one summary line (see with `--nocapture`). The event handler is
//! process-wide, so the tests run one at a time.

mod common;

use common::*;
use lightstep::collector::{Fault, LocalCollector, ReceivedReport};
use lightstep::{Event, Options, Stats, Tracer};
use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());
static EVENTS: Mutex<Vec<Event>> = Mutex::new(Vec::new());

const FLUSH_TIMEOUT: Duration = Duration::from_millis(400);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
const SLACK: Duration = Duration::from_millis(50);
const BUFFER: usize = 200;

fn serial() -> MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    lightstep::set_global_event_handler(|event| {
        EVENTS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event.clone());
    });
    EVENTS.lock().unwrap_or_else(|p| p.into_inner()).clear();
    guard
}

fn events() -> Vec<Event> {
    EVENTS.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

fn options(url: String) -> Options {
    Options::new(TOKEN)
        .collector_url(url)
        .component_name("faults")
        .max_buffered_spans(BUFFER)
        .min_reporting_period(Duration::from_millis(10))
        .max_reporting_period(Duration::from_millis(50))
        .report_timeout(Duration::from_millis(300))
        .close_timeout(CLOSE_TIMEOUT)
}

fn closed_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

/// Drives a tracer through bursts of spans and flushes, timing every flush.
struct Run {
    tracer: Tracer,
    worst_flush: Duration,
    flushes_ok: usize,
}

impl Run {
    fn new(url: String) -> Run {
        Run {
            tracer: Tracer::new(options(url)).expect("tracer"),
            worst_flush: Duration::ZERO,
            flushes_ok: 0,
        }
    }

    fn burst(&mut self, spans: usize) {
        for i in 0..spans {
            self.tracer.span("work").tag("i", i).start().finish();
        }
        let started = Instant::now();
        if self.tracer.flush(FLUSH_TIMEOUT).is_ok() {
            self.flushes_ok += 1;
        }
        self.worst_flush = self.worst_flush.max(started.elapsed());
    }

    /// Closes the tracer and checks the accounting against what the collectors accepted.
    fn finish(self, mode: &str, collectors: &[&LocalCollector]) -> Stats {
        self.finish_with(mode, collectors, &[])
    }

    /// As `finish`, counting also `earlier`: the reports of a collector since stopped.
    fn finish_with(
        self,
        mode: &str,
        collectors: &[&LocalCollector],
        earlier: &[ReceivedReport],
    ) -> Stats {
        let started = Instant::now();
        let _ = self.tracer.close(CLOSE_TIMEOUT);
        let close_time = started.elapsed();
        assert!(
            close_time <= CLOSE_TIMEOUT + SLACK,
            "{mode}: close took {close_time:?}"
        );
        assert!(
            self.worst_flush <= FLUSH_TIMEOUT + SLACK,
            "{mode}: a flush took {:?}",
            self.worst_flush
        );
        // A request in flight at the close deadline ends within report_timeout.
        assert!(
            eventually(|| self.tracer.stats().pending == 0),
            "{mode}: {:?}",
            self.tracer.stats()
        );
        let stats = self.tracer.stats();
        assert_eq!(
            stats.delivered + stats.dropped + stats.unsampled,
            stats.finished,
            "{mode}: {stats:?}"
        );

        let reports: Vec<ReceivedReport> = collectors
            .iter()
            .flat_map(|c| c.reports())
            .chain(earlier.iter().cloned())
            .collect();
        let accepted: Vec<_> = reports
            .iter()
            .filter(|r| r.status == 200)
            .flat_map(|r| r.request.spans.iter().cloned())
            .collect();
        assert_eq!(
            accepted.len() as u64,
            stats.delivered,
            "{mode}: collector vs delivered"
        );
        let unique: HashSet<u64> = accepted.iter().map(span_id).collect();
        assert_eq!(
            unique.len(),
            accepted.len(),
            "{mode}: a span was accepted twice"
        );

        let reported_dropped: i64 = reports
            .iter()
            .filter(|r| r.status == 200)
            .filter_map(|r| r.dropped_spans())
            .sum();
        let status_sums = || {
            let (mut sent, mut dropped) = (0, 0);
            for event in events() {
                if let Event::StatusReport(report) = &event {
                    sent += report.sent_spans();
                    dropped += report.dropped_spans() as i64;
                }
            }
            (sent, dropped)
        };
        eventually(|| status_sums() == (stats.delivered, reported_dropped));
        let (status_sent, status_dropped) = status_sums();
        for event in events() {
            let text = format!("{event} {event:?}");
            assert!(!text.contains(TOKEN), "{mode}: token in an event: {text}");
        }
        assert_eq!(status_sent, stats.delivered, "{mode}: StatusReport sent");
        assert_eq!(
            status_dropped, reported_dropped,
            "{mode}: StatusReport dropped"
        );
        assert!(reported_dropped as u64 <= stats.dropped, "{mode}");
        println!(
            "fault {mode:<12} finished {:>5} delivered {:>5} dropped {:>5} reported-dropped {:>5} \
             worst flush {:>7.1?} close {:>7.1?}",
            stats.finished,
            stats.delivered,
            stats.dropped,
            reported_dropped,
            self.worst_flush,
            close_time
        );
        stats
    }
}

fn error_events() -> usize {
    events()
        .iter()
        .filter(|e| matches!(e, Event::Error(_)))
        .count()
}

#[test]
fn collector_down() {
    let _guard = serial();
    let mut run = Run::new(closed_url());
    for _ in 0..5 {
        run.burst(150);
    }
    let stats = run.finish("down", &[]);
    assert_eq!(
        (stats.finished, stats.delivered, stats.dropped),
        (750, 0, 750)
    );
    assert!(eventually(|| error_events() > 0));
}

#[test]
fn collector_blackhole() {
    let _guard = serial();
    let collector = LocalCollector::start().expect("collector");
    collector.set_fault(Fault::Blackhole);
    let mut run = Run::new(collector.url());
    for _ in 0..3 {
        run.burst(100);
    }
    assert_eq!(run.flushes_ok, 0);
    let stats = run.finish("blackhole", &[&collector]);
    assert_eq!((stats.delivered, stats.dropped), (0, 300));
}

#[test]
fn collector_slow() {
    let _guard = serial();
    let collector = LocalCollector::start().expect("collector");
    collector.set_fault(Fault::Slow(Duration::from_millis(10)));
    let mut run = Run::new(collector.url());
    for _ in 0..10 {
        run.burst(80);
    }
    assert_eq!(run.flushes_ok, 10);
    let stats = run.finish("slow", &[&collector]);
    assert_eq!((stats.delivered, stats.dropped), (800, 0));
}

#[test]
fn collector_fails_then_recovers_without_duplicates() {
    let _guard = serial();
    let collector = LocalCollector::start().expect("collector");
    collector.fail_next(3, 503);
    let mut run = Run::new(collector.url());
    for _ in 0..8 {
        run.burst(150);
    }
    let stats = run.finish("5xx-then-ok", &[&collector]);
    // Spans first refused were resent and accepted.
    let reports = collector.reports();
    let refused: HashSet<u64> = reports
        .iter()
        .filter(|r| r.status == 503)
        .flat_map(|r| r.request.spans.iter().map(span_id))
        .collect();
    let accepted: HashSet<u64> = collector.spans().iter().map(span_id).collect();
    assert!(!refused.is_empty());
    assert!(
        refused.iter().any(|id| accepted.contains(id)),
        "no refused span was retried"
    );
    assert_eq!(stats.delivered + stats.dropped, 1200);
    let reported: i64 = reports
        .iter()
        .filter(|r| r.status == 200)
        .filter_map(|r| r.dropped_spans())
        .sum();
    assert_eq!(
        reported as u64, stats.dropped,
        "the last flush succeeded, so every drop was reported"
    );
}

#[test]
fn collector_refuses_the_token_then_accepts_it() {
    let _guard = serial();
    let collector = LocalCollector::start().expect("collector");
    collector.require_token("another-token");
    let mut run = Run::new(collector.url());
    for _ in 0..3 {
        run.burst(150);
    }
    assert_eq!(run.flushes_ok, 0);
    assert!(collector.reports().iter().all(|r| r.status == 401));
    collector.require_token(TOKEN);
    run.burst(10);
    let stats = run.finish("401", &[&collector]);
    assert!(stats.dropped > 0 && stats.delivered > 0, "{stats:?}");
    let reported: i64 = collector
        .reports()
        .iter()
        .filter(|r| r.status == 200)
        .filter_map(|r| r.dropped_spans())
        .sum();
    assert_eq!(reported as u64, stats.dropped);
}

/// Status 200 with a bad body: delivered, an error event, and never sent again.
fn accepted_with_a_bad_answer(mode: &str, fault: Fault) {
    let collector = LocalCollector::start().expect("collector");
    collector.set_fault(fault);
    let mut run = Run::new(collector.url());
    for _ in 0..4 {
        run.burst(100);
    }
    let stats = run.finish(mode, &[&collector]);
    assert_eq!((stats.delivered, stats.dropped), (400, 0));
    let received: usize = collector
        .reports()
        .iter()
        .map(|r| r.request.spans.len())
        .sum();
    assert_eq!(
        received, 400,
        "{mode}: a batch the collector took was sent again"
    );
    assert!(eventually(|| error_events() > 0), "{mode}: no error event");
}

#[test]
fn collector_answers_garbage() {
    let _guard = serial();
    accepted_with_a_bad_answer("garbage", Fault::Garbage);
}

#[test]
fn collector_truncates_its_answer() {
    let _guard = serial();
    accepted_with_a_bad_answer("truncated", Fault::Truncated);
}

#[test]
fn collector_answers_too_much() {
    let _guard = serial();
    let started = Instant::now();
    accepted_with_a_bad_answer("huge-answer", Fault::HugeResponse(256 * 1024 * 1024));
    // 256 MiB were offered; the response limit stops reading long before that.
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn collector_resets_connections_then_recovers() {
    let _guard = serial();
    let collector = LocalCollector::start().expect("collector");
    collector.set_fault(Fault::Reset);
    let mut run = Run::new(collector.url());
    for _ in 0..3 {
        run.burst(100);
    }
    assert_eq!(run.flushes_ok, 0);
    assert_eq!(
        collector.reports().len(),
        0,
        "a reset request must not be recorded"
    );
    collector.set_fault(Fault::None);
    run.burst(10);
    let stats = run.finish("reset", &[&collector]);
    assert!(stats.delivered >= 100, "{stats:?}");
}

#[test]
fn collector_restarts_mid_run() {
    let _guard = serial();
    let first = LocalCollector::start().expect("collector");
    let addr = first.addr();
    let mut run = Run::new(first.url());
    run.burst(100);
    let before_restart = first.reports();
    drop(first);
    run.burst(100);
    run.burst(100);
    let second = LocalCollector::bind(addr).expect("the same port again");
    run.burst(10);
    let stats = run.finish_with("restart", &[&second], &before_restart);
    assert_eq!(
        stats.delivered,
        100 + second.span_count() as u64,
        "{stats:?}"
    );
    assert!(
        second.span_count() >= 110,
        "spans held while down were delivered after"
    );
}

#[test]
fn collector_sends_disable() {
    let _guard = serial();
    let collector = LocalCollector::start().expect("collector");
    let mut run = Run::new(collector.url());
    run.burst(50);
    collector.send_disable();
    run.burst(50);
    run.burst(50);
    let stats = run.finish("disable", &[&collector]);
    assert!(eventually(|| events()
        .iter()
        .any(|e| matches!(e, Event::TracerDisabled))));
    assert_eq!(stats.delivered, 100, "{stats:?}");
    assert_eq!(stats.dropped, 50);
}

#[test]
fn memory_stays_bounded_while_the_collector_is_down() {
    let _guard = serial();
    let tracer = Tracer::new(options(closed_url())).expect("tracer");
    let mut most_held = 0;
    for round in 0..50 {
        for i in 0..1000 {
            tracer.span("flood").tag("i", i).start().finish();
        }
        if round % 10 == 0 {
            let _ = tracer.flush(Duration::from_millis(20));
        }
        most_held = most_held.max(tracer.stats().pending);
    }
    assert!(
        most_held <= BUFFER as u64,
        "held {most_held} spans with max_buffered_spans {BUFFER}"
    );
    let _ = tracer.close(CLOSE_TIMEOUT);
    let stats = tracer.stats();
    assert_eq!(
        (stats.finished, stats.dropped, stats.pending),
        (50_000, 50_000, 0)
    );
    println!("memory: held at most {most_held} of {BUFFER} spans while 50000 finished");
}
