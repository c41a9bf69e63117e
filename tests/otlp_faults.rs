//! The fault suite over OTLP (`Options::use_otlp`): the same loopback collector speaking
//! OTLP/HTTP at `/v1/traces`, the same modes and the same accounting checks as over HTTP
//! (`tests/faults.rs`), plus partial successes. OTLP carries no dropped count, so that
//! check is made against the events alone.

mod common;

use common::faults::*;
use common::*;
use lightstep::collector::{Fault, LocalCollector};
use lightstep::{Error, ErrorKind, FlushState, Options, Tracer};
use std::collections::HashSet;
use std::time::Duration;

#[test]
fn otlp_collector_down() {
    let _guard = serial();
    let mut run = Run::new(closed_url(), Wire::Otlp);
    for _ in 0..5 {
        run.burst(150);
    }
    assert!(run.flush_errors.iter().all(|e| *e == Error::Timeout));
    let stats = run.finish("otlp-down", &[]);
    assert_eq!(
        (stats.finished, stats.delivered, stats.dropped),
        (750, 0, 750)
    );
    assert_eq!(stats.close, Err(Error::Timeout));
    assert_error_kinds("otlp-down", &[ErrorKind::Connection]);
}

#[test]
fn otlp_collector_blackhole() {
    let _guard = serial();
    let collector = LocalCollector::start().expect("collector");
    collector.set_fault(Fault::Blackhole);
    let mut run = Run::new(collector.url(), Wire::Otlp);
    for _ in 0..3 {
        run.burst(100);
    }
    assert_eq!(run.flush_errors, vec![Error::Timeout; 3]);
    let stats = run.finish("otlp-blackhole", &[&collector]);
    assert_eq!((stats.delivered, stats.dropped), (0, 300));
    assert_eq!(stats.close, Err(Error::Timeout));
}

#[test]
fn otlp_collector_slow() {
    let _guard = serial();
    let collector = LocalCollector::start().expect("collector");
    collector.set_fault(Fault::Slow(Duration::from_millis(10)));
    let mut run = Run::new(collector.url(), Wire::Otlp);
    for _ in 0..10 {
        run.burst(80);
    }
    assert_eq!(run.flushes_ok, 10);
    let stats = run.finish("otlp-slow", &[&collector]);
    assert_eq!((stats.delivered, stats.dropped), (800, 0));
    assert_eq!(collector.otlp_requests().len(), collector.reports().len());
}

#[test]
fn otlp_503_is_retried_and_nothing_is_accepted_twice() {
    let _guard = serial();
    let collector = LocalCollector::start().expect("collector");
    collector.fail_next(3, 503);
    let mut run = Run::new(collector.url(), Wire::Otlp);
    for _ in 0..8 {
        run.burst(150);
    }
    let stats = run.finish("otlp-503", &[&collector]);
    let refused: HashSet<u64> = collector
        .reports()
        .iter()
        .filter(|r| r.status == 503)
        .flat_map(|r| r.request.spans.iter().map(span_id))
        .collect();
    let accepted: HashSet<u64> = collector.spans().iter().map(span_id).collect();
    assert!(!refused.is_empty());
    assert!(refused.iter().all(|id| accepted.contains(id)));
    assert_eq!(stats.delivered + stats.dropped, 1200);
    assert!(stats.delivered >= 1000, "{stats:?}");
    assert_error_kinds("otlp-503", &[ErrorKind::Flush(FlushState::Report)]);
}

#[test]
fn otlp_other_4xx_are_not_retried() {
    let _guard = serial();
    let collector = LocalCollector::start().expect("collector");
    collector.fail_next(1, 400);
    let mut run = Run::new(collector.url(), Wire::Otlp);
    run.burst(50);
    assert_eq!(run.flushes_ok, 0);
    assert_eq!(
        collector.reports().len(),
        1,
        "a 400 was retried within the flush"
    );
    run.burst(10);
    let stats = run.finish("otlp-400", &[&collector]);
    assert_eq!((stats.delivered, stats.dropped), (60, 0));
}

#[test]
fn otlp_retry_after_is_honoured() {
    let _guard = serial();
    let collector = LocalCollector::start().expect("collector");
    collector.fail_next_with(1, 429, &[("Retry-After", "1")]);
    let tracer = Tracer::new(
        Options::new(TOKEN)
            .use_otlp()
            .collector_url(collector.url())
            .component_name("otlp"),
    )
    .expect("tracer");
    for _ in 0..10 {
        tracer.span("later").start().finish();
    }
    let started = std::time::Instant::now();
    tracer.close(Duration::from_secs(3)).expect("delivered");
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(collector.span_count(), 10);
}

#[test]
fn otlp_partial_success_counts_the_rejected_as_dropped() {
    let _guard = serial();
    let collector = LocalCollector::start().expect("collector");
    collector.reject_next_spans(7);
    let mut run = Run::new(collector.url(), Wire::Otlp);
    run.burst(40);
    let stats = run.finish("otlp-partial", &[&collector]);
    assert_eq!((stats.delivered, stats.dropped), (33, 7));
    assert!(error_events()
        .iter()
        .any(|e| e.to_string().contains("rejected 7")));
}

#[test]
fn otlp_garbage_answers_still_deliver_once() {
    let _guard = serial();
    accepted_with_a_bad_answer("otlp-garbage", Fault::Garbage, Wire::Otlp);
}

#[test]
fn otlp_truncated_answers_still_deliver_once() {
    let _guard = serial();
    accepted_with_a_bad_answer("otlp-truncated", Fault::Truncated, Wire::Otlp);
}

#[test]
fn otlp_huge_answers_still_deliver_once() {
    let _guard = serial();
    accepted_with_a_bad_answer(
        "otlp-huge",
        Fault::HugeResponse(64 * 1024 * 1024),
        Wire::Otlp,
    );
}

#[test]
fn otlp_collector_restarts_mid_run() {
    let _guard = serial();
    let first = LocalCollector::start().expect("collector");
    let addr = first.addr();
    let mut run = Run::new(first.url(), Wire::Otlp);
    run.burst(100);
    let before_restart = first.reports();
    drop(first);
    run.burst(100);
    run.burst(100);
    let second = LocalCollector::bind(addr).expect("the same port again");
    run.burst(10);
    let stats = run.finish_with("otlp-restart", &[&second], &before_restart);
    assert_eq!(second.span_count(), 200, "{stats:?}");
    assert_eq!(stats.dropped, 10);
}
