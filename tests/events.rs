//! Events seen by the global event handler: status reports, errors from an unreachable
//! or refusing collector, the disable command, and a handler that panics.
//!
//! The handler is process-wide, so these tests run one at a time.

mod common;

use common::*;
use lightstep::{ErrorKind, Event, FlushState, Options, Tracer};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

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
        for event in recorded() {
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
    assert_no_token_in(&recorded());
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
        recorded()
            .iter()
            .any(|e| matches!(e, Event::Error(e) if e.kind() == ErrorKind::Connection))
    };
    assert!(eventually(connection_error), "{:?}", recorded());
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
    assert_no_token_in(&recorded());
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
    assert!(eventually(|| recorded().iter().any(
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
    assert_no_token_in(&recorded());
}

#[test]
fn the_disable_command_stops_the_tracer() {
    let _guard = recording();
    let (collector, tracer) = tracer();
    collector.send_disable();
    tracer.span("before").start().finish();
    tracer.flush(WAIT).expect("flush");
    assert!(eventually(|| recorded()
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
        recorded()
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
    record_events();
    tracer.span("after").start().finish();
    tracer.flush(WAIT).expect("flush");
    assert!(
        eventually(|| recorded()
            .iter()
            .any(|e| matches!(e, Event::StatusReport(r) if r.sent_spans() == 1))),
        "{:?}",
        recorded()
    );
}

/// Valid ids with baggage past the limits: the context is returned with the baggage that
/// fits, and a `BaggageDropped` event says what was dropped, in every format.
#[test]
fn oversized_baggage_keeps_the_trace_and_is_reported() {
    use lightstep::Propagator;
    use std::collections::HashMap;
    let _guard = recording();
    let (_collector, tracer) = tracer_with(|o| {
        o.propagators(&[
            Propagator::LightStep,
            Propagator::B3,
            Propagator::TraceContext,
        ])
    });
    let headers =
        |pairs: Vec<(String, String)>| -> HashMap<String, String> { pairs.into_iter().collect() };
    let ids: Vec<(String, String)> = [
        ("ot-tracer-traceid", "ab"),
        ("ot-tracer-spanid", "cd"),
        ("ot-tracer-sampled", "true"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    // One 100 kB item beside a small one.
    let mut big = ids.clone();
    big.push(("ot-baggage-big".into(), "x".repeat(100_000)));
    big.push(("ot-baggage-user".into(), "alice".into()));
    let context = tracer.extract(&headers(big)).expect("kept").expect("found");
    assert_eq!((context.trace_id(), context.span_id()), (0xab, 0xcd));
    assert_eq!(context.baggage_item("user"), Some("alice"));
    assert_eq!(context.baggage_item("big"), None);
    // 1 500 items: 1 024 kept.
    let mut many = ids.clone();
    many.extend((0..1500).map(|i| (format!("ot-baggage-k{i}"), "v".to_owned())));
    let context = tracer
        .extract(&headers(many))
        .expect("kept")
        .expect("found");
    assert_eq!(context.baggage().len(), 1024);
    // The same in the W3C format.
    let w3c = vec![
        (
            "traceparent".to_owned(),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned(),
        ),
        ("ot-baggage-big".to_owned(), "y".repeat(100_000)),
    ];
    let context = tracer.extract(&headers(w3c)).expect("kept").expect("found");
    assert_eq!(context.trace_id(), 0x8448eb211c80319c);
    assert!(context.baggage().is_empty());

    let dropped = || -> Vec<(String, usize, usize, String)> {
        recorded()
            .iter()
            .filter_map(|e| match e {
                Event::BaggageDropped(b) => Some((
                    b.format().to_owned(),
                    b.dropped_items(),
                    b.kept_items(),
                    b.reason().to_owned(),
                )),
                _ => None,
            })
            .collect()
    };
    assert!(eventually(|| dropped().len() == 3), "{:?}", dropped());
    let events = dropped();
    assert_eq!(
        events[0],
        (
            "lightstep".into(),
            1,
            1,
            "more than 65536 bytes of baggage".into()
        )
    );
    assert_eq!(
        events[1],
        (
            "lightstep".into(),
            476,
            1024,
            "more than 1024 baggage items".into()
        )
    );
    assert_eq!(events[2].0, "tracecontext");
    let text = recorded()
        .iter()
        .find(|e| matches!(e, Event::BaggageDropped(_)))
        .map(ToString::to_string)
        .unwrap();
    assert!(text.contains("dropped 1 baggage items"), "{text}");
}

/// NaN and ±inf tags are sent as strings, each with an `UnsupportedValue` event, as log
/// fields already were.
#[test]
fn non_finite_tags_are_converted_and_reported() {
    use lightstep::proto::collector::key_value::Value as V;
    let _guard = recording();
    let (collector, tracer) = tracer();
    {
        let mut span = tracer
            .span("numbers")
            .tag("nan", f64::NAN)
            .tag("finite", 1.5)
            .start();
        span.set_tag("inf", f64::INFINITY);
        span.set_tag("minus_inf", f64::NEG_INFINITY);
    }
    tracer.flush(WAIT).expect("flush");
    let spans = collector.spans();
    let span = named(&spans, "numbers");
    for (key, sent) in [("nan", "NaN"), ("inf", "inf"), ("minus_inf", "-inf")] {
        assert_eq!(
            tag(&span.tags, key),
            Some(&V::StringValue(sent.into())),
            "{key}"
        );
    }
    assert_eq!(tag(&span.tags, "finite"), Some(&V::DoubleValue(1.5)));
    let unsupported = || -> Vec<(String, String)> {
        recorded()
            .iter()
            .filter_map(|e| match e {
                Event::UnsupportedValue(v) => Some((v.key().to_owned(), v.sent_as().to_owned())),
                _ => None,
            })
            .collect()
    };
    assert!(
        eventually(|| unsupported().len() == 3),
        "{:?}",
        unsupported()
    );
    let mut events = unsupported();
    events.sort();
    assert_eq!(
        events,
        [
            ("inf".to_owned(), "inf".to_owned()),
            ("minus_inf".to_owned(), "-inf".to_owned()),
            ("nan".to_owned(), "NaN".to_owned()),
        ]
    );
}
