//! Events seen by the global event handler: status reports, errors from an unreachable
//! or refusing collector, the disable command, and a handler that panics.
//!
//! The handler is process-wide, so these tests run one at a time.

mod common;

use common::*;
use lightstep::{ErrorKind, Event, FlushState, Options, Tracer};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());
static SEEN: Mutex<Vec<Event>> = Mutex::new(Vec::new());

/// Takes the test lock and starts recording events afresh.
fn recording() -> MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    lightstep::set_global_event_handler(|event| {
        SEEN.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event.clone());
    });
    // Events of earlier tests' tracers may still be on their way: let them land first.
    settle(|| SEEN.lock().unwrap_or_else(|p| p.into_inner()).len());
    SEEN.lock().unwrap_or_else(|p| p.into_inner()).clear();
    guard
}

fn seen() -> Vec<Event> {
    SEEN.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

fn assert_no_token_in(events: &[Event]) {
    for event in events {
        let text = format!("{event} {event:?}");
        assert!(!text.contains(TOKEN), "token leaked: {text}");
    }
}

/// A loopback port with nothing listening.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}

#[test]
fn status_reports_carry_the_dropped_count() {
    let _guard = recording();
    // Reports of earlier tests' tracers cover periods that began before this one.
    let began = std::time::SystemTime::now();
    let (collector, tracer) = tracer_with(|o| {
        o.max_buffered_spans(4)
            .min_reporting_period(Duration::from_secs(300))
            .max_reporting_period(Duration::from_secs(600))
    });
    for _ in 0..50 {
        tracer.span("burst").start().finish();
    }
    tracer.flush(WAIT).expect("flush");
    let stats = tracer.stats();
    // The buffer holds 4: its channel half (2) always fills, the reporter may have moved
    // them to its batch half and taken 2 more; every other span is dropped.
    assert!((46..=48).contains(&stats.dropped), "{stats:?}");
    assert_eq!(stats.delivered + stats.dropped, 50, "{stats:?}");
    let sums = || {
        let (mut sent, mut dropped) = (0, 0);
        for event in seen() {
            if let Event::StatusReport(report) = event {
                if report.start_time() < began {
                    continue;
                }
                sent += report.sent_spans();
                dropped += report.dropped_spans();
            }
        }
        (sent, dropped)
    };
    assert!(
        eventually(|| sums() == (stats.delivered, stats.dropped)),
        "{:?} vs {stats:?}",
        sums()
    );
    assert_eq!(collector.spans().len() as u64, stats.delivered);
    assert_no_token_in(&seen());
}

#[test]
fn an_unreachable_collector_is_an_error_event_and_close_stays_bounded() {
    let _guard = recording();
    let url = format!("http://127.0.0.1:{}", closed_port());
    let tracer = Tracer::new(Options::new(TOKEN).collector_url(url)).expect("tracer");
    tracer.span("lost").start().finish();
    let timeout = Duration::from_millis(500);
    let started = Instant::now();
    let result = tracer.close(timeout);
    let took = started.elapsed();
    assert!(
        result.is_err(),
        "close reported success with the collector down"
    );
    assert!(
        took <= timeout + Duration::from_millis(50),
        "close took {took:?}"
    );
    let connection_error = || {
        seen()
            .iter()
            .any(|e| matches!(e, Event::Error(e) if e.kind() == ErrorKind::Connection))
    };
    assert!(eventually(connection_error), "{:?}", seen());
    let stats = tracer.stats();
    assert_eq!(
        (
            stats.finished,
            stats.delivered,
            stats.dropped,
            stats.pending
        ),
        (1, 0, 1, 0)
    );
    assert_no_token_in(&seen());
}

#[test]
fn a_collector_that_never_answers_cannot_hold_close() {
    let _guard = recording();
    // Accepts connections (the kernel's backlog does) but never reads or answers.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let tracer = Tracer::new(
        Options::new(TOKEN)
            .collector_url(url)
            .report_timeout(Duration::from_secs(30)),
    )
    .expect("tracer");
    tracer.span("stuck").start().finish();
    let timeout = Duration::from_millis(400);
    let started = Instant::now();
    let result = tracer.close(timeout);
    let took = started.elapsed();
    assert!(result.is_err());
    assert!(
        took <= timeout + Duration::from_millis(50),
        "close took {took:?}"
    );
    assert!(
        eventually(|| tracer.stats().pending == 0),
        "{:?}",
        tracer.stats()
    );
    assert_eq!(tracer.stats().dropped, 1);
    drop(listener);
}

#[test]
fn a_401_is_an_error_event_and_the_spans_are_kept_for_retry() {
    let _guard = recording();
    let (collector, tracer) = tracer();
    collector.require_token("another-token");
    tracer.span("refused").start().finish();
    let error = tracer.flush(WAIT).expect_err("401 is a failure");
    assert!(error.to_string().contains("401"), "{error}");
    assert!(eventually(|| seen().iter().any(
        |e| matches!(e, Event::Error(e) if e.kind() == ErrorKind::Flush(FlushState::Report))
    )));
    assert_eq!(tracer.stats().pending, 1);
    collector.require_token(TOKEN);
    tracer.flush(WAIT).expect("retry succeeds");
    assert_eq!(tracer.stats().delivered, 1);
    // Both attempts reached the collector, only the second was accepted.
    let statuses: Vec<u16> = collector.reports().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![401, 200]);
    assert_eq!(collector.spans().len(), 1);
    assert_no_token_in(&seen());
}

#[test]
fn the_disable_command_stops_the_tracer() {
    let _guard = recording();
    let (collector, tracer) = tracer();
    collector.send_disable();
    tracer.span("before").start().finish();
    tracer.flush(WAIT).expect("flush");
    assert!(eventually(|| seen()
        .iter()
        .any(|e| matches!(e, Event::TracerDisabled))));
    tracer.span("after").start().finish();
    assert!(tracer.flush(WAIT).is_err());
    let stats = tracer.stats();
    assert_eq!((stats.delivered, stats.dropped, stats.pending), (1, 1, 0));
    assert_eq!(names(&collector.spans()), vec!["before"]);
}

#[test]
fn a_missing_component_name_is_reported() {
    let _guard = recording();
    let collector = lightstep::collector::LocalCollector::start().expect("collector");
    let _tracer = Tracer::new(Options::new(TOKEN).collector_url(collector.url())).expect("tracer");
    let names = || -> Vec<String> {
        seen()
            .iter()
            .filter_map(|e| match e {
                Event::MissingService(m) => Some(m.default_name().to_owned()),
                _ => None,
            })
            .collect()
    };
    assert!(
        eventually(|| !names().is_empty()),
        "no MissingService event"
    );
    assert_eq!(names().len(), 1);
    assert!(!names()[0].is_empty());
}

#[test]
fn a_panicking_handler_does_not_stop_reporting() {
    let _guard = recording();
    // Panics on every event, after counting the status reports it was handed.
    static STATUS_REPORTS: AtomicUsize = AtomicUsize::new(0);
    lightstep::set_global_event_handler(|event| {
        if matches!(event, Event::StatusReport(_)) {
            STATUS_REPORTS.fetch_add(1, SeqCst);
        }
        panic!("handler bug")
    });
    let (collector, tracer) = tracer();
    for round in 0..3 {
        tracer.span(format!("round-{round}")).start().finish();
        tracer.flush(WAIT).expect("flush despite the handler");
    }
    assert_eq!(collector.spans().len(), 3);
    // The handler kept receiving events after its first panic: one per report.
    assert!(
        eventually(|| STATUS_REPORTS.load(SeqCst) == 3),
        "{} status reports handled",
        STATUS_REPORTS.load(SeqCst)
    );
    // And the next handler still gets them.
    lightstep::set_global_event_handler(|event| {
        SEEN.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event.clone());
    });
    tracer.span("after").start().finish();
    tracer.flush(WAIT).expect("flush");
    assert!(
        eventually(|| seen()
            .iter()
            .any(|e| matches!(e, Event::StatusReport(r) if r.sent_spans() == 1))),
        "{:?}",
        seen()
    );
}
