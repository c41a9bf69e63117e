//! The fault suite: a real collector on loopback misbehaving in every way we know, and in
//! each mode exact accounting, no duplicates, retries after recovery, and bounded
//! `flush`/`close`.
//!
//! Each test prints one summary line (see with `--nocapture`). The event handler is
//! process-wide, so the tests run one at a time.

mod common;

use common::faults::*;
use common::*;
use lightstep::collector::{Fault, LocalCollector};
use lightstep::{Error, ErrorKind, Event, FlushState, Tracer};
use std::collections::HashSet;
use std::time::{Duration, Instant};

#[test]
fn collector_down() {
    let _guard = serial();
    let mut run = Run::new(closed_url(), Wire::Http);
    for _ in 0..5 {
        run.burst(150);
    }
    assert!(
        run.flush_errors.iter().all(|e| *e == Error::Timeout),
        "{:?}",
        run.flush_errors
    );
    let stats = run.finish("down", &[]);
    assert_eq!(
        (stats.finished, stats.delivered, stats.dropped),
        (750, 0, 750)
    );
    assert_eq!(stats.close, Err(Error::Timeout));
    // One event per attempt, each a connection error that names it.
    assert_error_kinds("down", &[ErrorKind::Connection]);
    assert!(error_events().len() > 5);
    assert!(error_events().iter().all(|e| e.attempt().is_some()));
}

#[test]
fn collector_blackhole() {
    let _guard = serial();
    let collector = LocalCollector::start().expect("collector");
    collector.set_fault(Fault::Blackhole);
    let mut run = Run::new(collector.url(), Wire::Http);
    for _ in 0..3 {
        run.burst(100);
    }
    assert_eq!(run.flushes_ok, 0);
    // The README's promise: a black-holed collector makes flush and close time out.
    assert_eq!(run.flush_errors, vec![Error::Timeout; 3]);
    let stats = run.finish("blackhole", &[&collector]);
    assert_eq!((stats.delivered, stats.dropped), (0, 300));
    assert_eq!(stats.close, Err(Error::Timeout));
    assert_error_kinds("blackhole", &[ErrorKind::Flush(FlushState::Transport)]);
}

#[test]
fn collector_slow() {
    let _guard = serial();
    let collector = LocalCollector::start().expect("collector");
    collector.set_fault(Fault::Slow(Duration::from_millis(10)));
    let mut run = Run::new(collector.url(), Wire::Http);
    for _ in 0..10 {
        run.burst(80);
    }
    assert_eq!(run.flushes_ok, 10);
    let stats = run.finish("slow", &[&collector]);
    assert_eq!((stats.delivered, stats.dropped), (800, 0));
    assert_eq!(stats.close, Ok(()));
    assert!(error_events().is_empty(), "{:?}", error_events());
}

#[test]
fn collector_fails_then_recovers_without_duplicates() {
    let _guard = serial();
    let collector = LocalCollector::start().expect("collector");
    collector.fail_next(3, 503);
    let mut run = Run::new(collector.url(), Wire::Http);
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
        refused.iter().all(|id| accepted.contains(id)),
        "a refused span was not resent"
    );
    // Refusals are retried within each flush: what was lost did not fit the 200-span
    // buffer while the first flush was retrying.
    assert_eq!(stats.finished, 1200);
    assert_eq!(stats.delivered + stats.dropped, 1200);
    assert!(stats.delivered >= 1000, "{:?}", stats.stats);
    assert_eq!(stats.close, Ok(()));
    assert_error_kinds("5xx", &[ErrorKind::Flush(FlushState::Report)]);
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
    let mut run = Run::new(collector.url(), Wire::Http);
    for _ in 0..3 {
        run.burst(150);
    }
    assert_eq!(run.flushes_ok, 0);
    assert!(collector.reports().iter().all(|r| r.status == 401));
    collector.require_token(TOKEN);
    run.burst(10);
    assert!(run
        .flush_errors
        .iter()
        .all(|e| matches!(e, Error::Collector(_))));
    let stats = run.finish("401", &[&collector]);
    // A refusal is not retried within a flush: the first 200 held, then the buffer was
    // full; the right token took those 200 (and the 10 after them found room).
    assert_eq!(
        (stats.finished, stats.delivered, stats.dropped),
        (460, 200, 260),
        "{:?}",
        stats.stats
    );
    assert_error_kinds("401", &[ErrorKind::Flush(FlushState::Report)]);
    let reported: i64 = collector
        .reports()
        .iter()
        .filter(|r| r.status == 200)
        .filter_map(|r| r.dropped_spans())
        .sum();
    assert_eq!(reported as u64, stats.dropped);
}

#[test]
fn collector_answers_garbage() {
    let _guard = serial();
    accepted_with_a_bad_answer("garbage", Fault::Garbage, Wire::Http);
}

#[test]
fn collector_truncates_its_answer() {
    let _guard = serial();
    accepted_with_a_bad_answer("truncated", Fault::Truncated, Wire::Http);
}

#[test]
fn collector_answers_too_much() {
    let _guard = serial();
    let started = Instant::now();
    accepted_with_a_bad_answer(
        "huge-answer",
        Fault::HugeResponse(256 * 1024 * 1024),
        Wire::Http,
    );
    // 256 MiB were offered; the response limit stops reading long before that.
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn collector_resets_connections_then_recovers() {
    let _guard = serial();
    let collector = LocalCollector::start().expect("collector");
    collector.set_fault(Fault::Reset);
    let mut run = Run::new(collector.url(), Wire::Http);
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
    // The buffer (200) held the first 200 through the resets, and was still full when
    // the last 10 finished; the 200 went once the collector recovered.
    assert_eq!(
        (stats.finished, stats.delivered, stats.dropped),
        (310, 200, 110),
        "{:?}",
        stats.stats
    );
    assert_eq!(collector.span_count(), 200);
}

#[test]
fn collector_restarts_mid_run() {
    let _guard = serial();
    let first = LocalCollector::start().expect("collector");
    let addr = first.addr();
    let mut run = Run::new(first.url(), Wire::Http);
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
    // The 200 finished while it was down were held (the buffer's size: the last 10 found
    // it full) and delivered after it came back.
    assert_eq!(second.span_count(), 200, "{:?}", stats.stats);
    assert_eq!(stats.dropped, 10);
}

#[test]
fn collector_sends_disable() {
    let _guard = serial();
    let collector = LocalCollector::start().expect("collector");
    // Only the flushes report: no timer report may split a burst.
    let mut run = Run::with(collector.url(), Wire::Http, |o| {
        o.min_reporting_period(Duration::from_secs(60))
            .max_reporting_period(Duration::from_secs(60))
    });
    run.burst(50);
    collector.send_disable();
    run.burst(50);
    run.burst(50);
    let stats = run.finish("disable", &[&collector]);
    assert!(eventually(|| events()
        .iter()
        .any(|e| matches!(e, Event::TracerDisabled))));
    assert_eq!(stats.delivered, 100, "{:?}", stats.stats);
    assert_eq!(stats.dropped, 50);
}

#[test]
fn spans_held_when_disable_arrives_are_dropped() {
    let _guard = serial();
    let collector = LocalCollector::start().expect("collector");
    collector.set_fault(Fault::Slow(Duration::from_millis(200)));
    collector.send_disable();
    let run = Run::with(collector.url(), Wire::Http, |o| {
        o.min_reporting_period(Duration::from_secs(60))
            .max_reporting_period(Duration::from_secs(60))
    });
    // The first report takes 200 ms; 30 more spans are held when its answer disables.
    for _ in 0..20 {
        run.tracer.span("sent").start().finish();
    }
    let flusher = {
        let tracer = run.tracer.clone();
        std::thread::spawn(move || tracer.flush(Duration::from_secs(2)))
    };
    std::thread::sleep(Duration::from_millis(50));
    for _ in 0..30 {
        run.tracer.span("held").start().finish();
    }
    assert_eq!(flusher.join().expect("flusher"), Ok(()));
    assert!(eventually(|| run.tracer.stats().pending == 0));
    let stats = run.finish("held-at-disable", &[&collector]);
    assert_eq!(
        (stats.delivered, stats.dropped),
        (20, 30),
        "{:?}",
        stats.stats
    );
    assert!(events().iter().any(|e| matches!(e, Event::TracerDisabled)));
}

#[test]
fn memory_stays_bounded_while_the_collector_is_down() {
    let _guard = serial();
    let tracer = Tracer::new(fault_options(closed_url(), Wire::Http)).expect("tracer");
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
