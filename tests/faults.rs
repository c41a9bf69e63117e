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
use lightstep::{Event, Tracer};
use std::collections::HashSet;
use std::time::{Duration, Instant};

#[test]
fn collector_down() {
    let _guard = serial();
    let mut run = Run::new(closed_url(), Wire::Http);
    for _ in 0..5 {
        run.burst(150);
    }
    let stats = run.finish("down", &[]);
    assert_eq!(
        (stats.finished, stats.delivered, stats.dropped),
        (750, 0, 750)
    );
    assert!(eventually(|| !error_events().is_empty()));
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
    let stats = run.finish("blackhole", &[&collector]);
    assert_eq!((stats.delivered, stats.dropped), (0, 300));
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
    let mut run = Run::new(collector.url(), Wire::Http);
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
    assert!(stats.delivered >= 100, "{stats:?}");
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
    assert!(
        second.span_count() >= 110,
        "spans held while down were delivered after"
    );
}

#[test]
fn collector_sends_disable() {
    let _guard = serial();
    let collector = LocalCollector::start().expect("collector");
    let mut run = Run::new(collector.url(), Wire::Http);
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
