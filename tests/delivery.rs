//! Delivery that holds up, over real loopback collectors: failures retried within the
//! deadline of `flush` and `close`, `Retry-After`, 413 splitting, redirects never
//! followed, concurrent closes, bursts absorbed up to the memory bound, and diagnostics
//! that reach the user before `close` returns.

mod common;

use common::*;
use lightstep::collector::{Fault, LocalCollector};
use lightstep::{Error, Event, Options, Tracer};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Room for a loaded machine in the time bounds (they catch hangs; the real figures are
/// measured by `examples/close_timing.rs`).
const SLACK: Duration = Duration::from_millis(250);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Wire {
    Http,
    #[cfg(feature = "grpc")]
    Grpc,
}

const WIRES: &[Wire] = &[
    Wire::Http,
    #[cfg(feature = "grpc")]
    Wire::Grpc,
];

fn options(collector: &LocalCollector, wire: Wire) -> Options {
    let options = Options::new(TOKEN).component_name("delivery");
    match wire {
        Wire::Http => options.collector_url(collector.url()),
        #[cfg(feature = "grpc")]
        Wire::Grpc => options.collector_url(collector.grpc_url()).use_grpc(),
    }
}

fn finish_spans(tracer: &Tracer, count: usize) {
    for i in 0..count {
        tracer.span("work").tag("i", i).start().finish();
    }
}

/// The ids of the spans the collector accepted, checking that none came twice.
fn accepted_once(collector: &LocalCollector) -> HashSet<u64> {
    let spans = collector.spans();
    let ids: HashSet<u64> = spans.iter().map(span_id).collect();
    assert_eq!(ids.len(), spans.len(), "a span was accepted twice");
    ids
}

#[test]
fn a_collector_failing_three_times_at_exit_still_gets_every_span() {
    for &wire in WIRES {
        let collector = LocalCollector::start().expect("collector");
        let tracer = Tracer::new(options(&collector, wire)).expect("tracer");
        collector.fail_next(3, 503); // gRPC: UNAVAILABLE
        finish_spans(&tracer, 100);
        let started = Instant::now();
        let result = tracer.close(Duration::from_millis(1500));
        assert!(started.elapsed() < Duration::from_millis(1500) + SLACK);
        assert_eq!(result, Ok(()), "{wire:?}");
        let stats = tracer.stats();
        assert_eq!((stats.delivered, stats.dropped), (100, 0), "{wire:?}");
        assert_eq!(accepted_once(&collector).len(), 100, "{wire:?}");
        assert_eq!(
            collector
                .reports()
                .iter()
                .filter(|r| r.status != 200)
                .count(),
            3,
            "{wire:?}: three refusals, then the retry went through"
        );
    }
}

#[cfg(feature = "grpc")]
#[test]
fn grpc_unavailable_twice_then_ok_is_delivered_by_flush() {
    let collector = LocalCollector::start().expect("collector");
    let tracer = Tracer::new(options(&collector, Wire::Grpc)).expect("tracer");
    collector.fail_next(2, 503);
    finish_spans(&tracer, 50);
    tracer.flush(Duration::from_secs(2)).expect("flushed");
    assert_eq!(accepted_once(&collector).len(), 50);
    assert!(collector.reports().iter().all(|r| r.grpc));
}

#[test]
fn retry_after_is_honoured_within_the_deadline() {
    let collector = LocalCollector::start().expect("collector");
    let tracer = Tracer::new(options(&collector, Wire::Http)).expect("tracer");
    collector.fail_next_with(1, 429, &[("Retry-After", "1")]);
    finish_spans(&tracer, 20);
    let started = Instant::now();
    tracer.close(Duration::from_secs(3)).expect("delivered");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the wait was not honoured"
    );
    assert_eq!(accepted_once(&collector).len(), 20);
}

#[test]
fn retry_after_beyond_the_deadline_is_a_timeout_at_once() {
    let collector = LocalCollector::start().expect("collector");
    let tracer = Tracer::new(options(&collector, Wire::Http)).expect("tracer");
    collector.fail_next_with(1, 503, &[("Retry-After", "10")]);
    finish_spans(&tracer, 20);
    let started = Instant::now();
    assert_eq!(tracer.close(Duration::from_secs(1)), Err(Error::Timeout));
    assert!(started.elapsed() < Duration::from_secs(1) + SLACK);
    let stats = tracer.stats();
    assert_eq!((stats.delivered, stats.dropped), (0, 20));
    assert_eq!(collector.reports().len(), 1, "no attempt after the refusal");
}

#[test]
fn a_413_splits_the_report_and_the_halves_are_delivered() {
    for &wire in WIRES {
        let collector = LocalCollector::start().expect("collector");
        collector.limit_request_bytes(Some(20_000));
        let tracer = Tracer::new(options(&collector, wire)).expect("tracer");
        for i in 0..200 {
            tracer
                .span("big")
                .tag("payload", "x".repeat(400))
                .tag("i", i)
                .start()
                .finish();
        }
        tracer.flush(Duration::from_secs(5)).expect("flushed");
        assert_eq!(accepted_once(&collector).len(), 200, "{wire:?}");
        let reports = collector.reports();
        assert!(reports.iter().any(|r| r.status == 413), "{wire:?}");
        assert!(reports
            .iter()
            .filter(|r| r.status == 200)
            .all(|r| r.body_bytes <= 20_000));
        assert_eq!(tracer.stats().dropped, 0);
    }
}

#[test]
fn redirects_are_never_followed() {
    for status in [302, 307] {
        let collector = LocalCollector::start().expect("collector");
        let elsewhere = LocalCollector::start().expect("another collector");
        let location = format!("{}/api/v2/reports", elsewhere.url());
        collector.fail_next_with(1, status, &[("Location", &location)]);
        let tracer = Tracer::new(options(&collector, Wire::Http)).expect("tracer");
        finish_spans(&tracer, 10);
        let error = tracer
            .flush(Duration::from_secs(2))
            .expect_err("redirected");
        assert!(error.to_string().contains("not followed"), "{error}");
        // The spans are kept and go to the configured collector once it accepts them.
        tracer.flush(Duration::from_secs(2)).expect("delivered");
        assert_eq!(accepted_once(&collector).len(), 10);
        assert!(
            elsewhere.reports().is_empty(),
            "{status}: the redirect was followed"
        );
    }
}

#[test]
fn concurrent_closes_both_wait_for_delivery() {
    let collector = LocalCollector::start().expect("collector");
    collector.set_fault(Fault::Slow(Duration::from_millis(300)));
    let tracer = Tracer::new(options(&collector, Wire::Http)).expect("tracer");
    finish_spans(&tracer, 1000);
    let closers: Vec<_> = (0..2)
        .map(|_| {
            let tracer = tracer.clone();
            std::thread::spawn(move || {
                let result = tracer.close(Duration::from_secs(5));
                (result, tracer.stats())
            })
        })
        .collect();
    for closer in closers {
        let (result, stats) = closer.join().expect("closer");
        assert_eq!(result, Ok(()));
        assert_eq!((stats.delivered, stats.pending), (1000, 0), "{stats:?}");
    }
    // A flush after the close is refused; a close after it returns the same outcome.
    assert_eq!(tracer.flush(Duration::from_secs(1)), Err(Error::Closed));
    assert_eq!(tracer.close(Duration::from_secs(1)), Ok(()));
}

#[test]
fn a_flush_during_a_close_waits_for_it() {
    let collector = LocalCollector::start().expect("collector");
    collector.set_fault(Fault::Slow(Duration::from_millis(300)));
    let tracer = Tracer::new(options(&collector, Wire::Http)).expect("tracer");
    finish_spans(&tracer, 100);
    let closer = {
        let tracer = tracer.clone();
        std::thread::spawn(move || tracer.close(Duration::from_secs(5)))
    };
    // The close is under way (its first report takes 300 ms).
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(tracer.flush(Duration::from_secs(5)), Ok(()));
    assert_eq!(tracer.stats().delivered, 100);
    // It returned with the close's outcome: the close is over.
    assert_eq!(tracer.flush(Duration::ZERO), Err(Error::Closed));
    assert_eq!(closer.join().expect("closer"), Ok(()));
}

#[test]
fn a_burst_from_one_thread_at_default_options_loses_nothing() {
    let collector = LocalCollector::start().expect("collector");
    let tracer = Tracer::new(options(&collector, Wire::Http)).expect("tracer");
    for i in 0..100_000 {
        tracer
            .span("burst")
            .tag("i", i)
            .tag("ok", true)
            .start()
            .finish();
    }
    let stats = tracer.stats();
    assert_eq!(stats.dropped, 0, "{stats:?}");
    tracer.close(Duration::from_secs(60)).expect("delivered");
    assert_eq!(tracer.stats().delivered, 100_000);
    assert_eq!(collector.span_count(), 100_000);
}

#[test]
fn a_collector_taking_a_second_per_request_loses_nothing_while_spans_pour_in() {
    let collector = LocalCollector::start().expect("collector");
    collector.set_fault(Fault::Slow(Duration::from_secs(1)));
    let options = options(&collector, Wire::Http);
    let tracer = Tracer::new(options).expect("tracer");
    // 20 000 spans a second for 3 seconds, in steps of 1 000.
    let started = Instant::now();
    for step in 0..60 {
        finish_spans(&tracer, 1000);
        let due = started + Duration::from_millis(50 * (step + 1));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
    let stats = tracer.stats();
    assert_eq!(
        stats.dropped, 0,
        "dropped while the reporter was busy: {stats:?}"
    );
    assert_eq!(stats.finished, 60_000);
    collector.set_fault(Fault::None);
    tracer.close(Duration::from_secs(30)).expect("delivered");
    assert_eq!(tracer.stats().delivered, 60_000);
}

#[test]
fn held_bytes_stay_within_max_buffered_bytes_while_the_collector_is_down() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    const MAX_BYTES: usize = 4 * 1024 * 1024;
    let tracer = Tracer::new(
        Options::new(TOKEN)
            .collector_url(url)
            .component_name("bounded")
            .max_buffered_bytes(MAX_BYTES)
            .min_reporting_period(Duration::from_millis(100))
            .max_reporting_period(Duration::from_millis(200)),
    )
    .expect("tracer");
    let tag = "x".repeat(4096);
    // Each span holds more than its 4 KiB tag, so the bound allows fewer than this.
    let most = (MAX_BYTES / 4096) as u64;
    let mut peak = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        for _ in 0..200 {
            tracer
                .span("big")
                .tag("payload", tag.clone())
                .start()
                .finish();
        }
        let stats = tracer.stats();
        assert!(stats.pending <= most, "{stats:?}");
        peak = peak.max(stats.pending);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(peak >= most / 2, "the bound was never reached: peak {peak}");
    let stats = tracer.stats();
    assert!(stats.dropped > 0);
    assert_eq!(
        stats.delivered + stats.dropped + stats.pending,
        stats.finished
    );
}

/// The events of a close reach the handler before it returns.
#[test]
fn events_raised_during_close_arrive_before_it_returns() {
    // Only this test in this binary sets the handler, so the events are its own.
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&seen);
    lightstep::set_global_event_handler(move |event| {
        if let Event::Error(error) = event {
            sink.lock().unwrap().push(error.to_string());
        }
    });
    let collector = LocalCollector::start().expect("collector");
    collector.fail_next(1000, 503);
    let tracer =
        Tracer::new(options(&collector, Wire::Http).component_name("exit-events")).expect("tracer");
    finish_spans(&tracer, 10);
    assert_eq!(
        tracer.close(Duration::from_millis(800)),
        Err(Error::Timeout)
    );
    let seen = seen.lock().unwrap().clone();
    let attempts: Vec<&String> = seen.iter().filter(|e| e.contains("attempt")).collect();
    assert!(attempts.len() >= 2, "{seen:?}");
    assert!(
        attempts.iter().any(|e| e.contains("retrying in")),
        "{attempts:?}"
    );
    assert!(
        attempts.last().is_some_and(|e| e.contains("no time left")),
        "{attempts:?}"
    );
}

/// A program that returns from `main` right after `lightstep::close()` has shown the
/// failure on standard error (no handler set). Runs this test binary again as the program.
#[test]
fn a_program_that_exits_after_close_has_printed_the_failure() {
    if std::env::var_os("LIGHTSTEP_EXIT_CHILD").is_some() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        drop(listener);
        lightstep::init(
            Options::new(TOKEN)
                .collector_url(url)
                .component_name("exit")
                .close_timeout(Duration::from_millis(300)),
        )
        .expect("init");
        let _span = lightstep::span!("last");
        drop(_span);
        lightstep::close();
        std::process::exit(0);
    }
    let output = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "a_program_that_exits_after_close_has_printed_the_failure",
            "--nocapture",
        ])
        .env("LIGHTSTEP_EXIT_CHILD", "1")
        .output()
        .expect("child runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("lightstep: "), "nothing printed: {stderr}");
    assert!(!stderr.contains(TOKEN), "{stderr}");
}
