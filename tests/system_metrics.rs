//! System metrics (`Options::system_metrics`), end to end: samples read from `/proc` on
//! the reporter thread reach the local collector's `POST /metrics` endpoint as decoded
//! `IngestRequest`s, with a `MetricsStatusReport` event per report; with the option off
//! (the default) nothing is sent.

mod common;

use common::*;
use lightstep::collector::LocalCollector;
use lightstep::proto::collector::key_value::Value as V;
use lightstep::proto::metrics::MetricKind;
use lightstep::{Event, Options, Tracer};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The tests that record events take this lock: the handler is process-wide.
static SERIAL: Mutex<()> = Mutex::new(());
/// `sent_metrics()` of every `MetricsStatusReport` event, in order.
static REPORTED: Mutex<Vec<u64>> = Mutex::new(Vec::new());
/// The text of every error event.
static ERRORS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn reported() -> Vec<u64> {
    REPORTED.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

fn errors() -> Vec<String> {
    ERRORS.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Takes the test lock, installs the recording handler, lets the events of earlier
/// tests' tracers land, and starts recording afresh.
fn watch_events() -> MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    lightstep::set_global_event_handler(|event| match event {
        Event::MetricsStatusReport(report) => REPORTED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(report.sent_metrics()),
        Event::Error(error) => ERRORS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(error.to_string()),
        _ => {}
    });
    settle(|| reported().len() + errors().len());
    REPORTED.lock().unwrap_or_else(|p| p.into_inner()).clear();
    ERRORS.lock().unwrap_or_else(|p| p.into_inner()).clear();
    guard
}

const NAMES: [&str; 6] = [
    "runtime.rust.cpu.user",
    "runtime.rust.cpu.sys",
    "runtime.rust.mem.rss",
    "runtime.rust.thread_count",
    "mem.total",
    "mem.available",
];

#[cfg(target_os = "linux")]
#[test]
fn samples_reach_the_metrics_endpoint() {
    let _guard = watch_events();
    let interval = Duration::from_millis(50);
    let (collector, tracer) =
        tracer_with(|o| o.system_metrics(true).system_metrics_interval(interval));
    // Some CPU work for the counters, and spans as usual.
    let mut spin = 0u64;
    for i in 0..2_000_000u64 {
        spin = spin.wrapping_mul(31).wrapping_add(i);
    }
    tracer.span("work").tag("spin", spin).start().finish();
    assert!(
        eventually(|| collector.metrics().len() >= 3),
        "metrics reports received: {}",
        collector.metrics().len()
    );
    tracer.close(WAIT).expect("close");
    assert_eq!(collector.span_count(), 1);

    let received = collector.metrics();
    for report in &received {
        assert_eq!(report.status, 200);
        assert_eq!(report.token_header.as_deref(), Some(TOKEN));
        let request = &report.request;
        assert_eq!(request.idempotency_key.len(), 48);
        let names: Vec<&str> = request
            .points
            .iter()
            .map(|p| p.metric_name.as_str())
            .collect();
        assert_eq!(names, NAMES);
        let reporter = request.reporter.as_ref().expect("reporter");
        assert_ne!(reporter.reporter_id, 0);
        assert_eq!(
            tag(&reporter.tags, "lightstep.reporter_platform"),
            Some(&V::StringValue("rust".into()))
        );
        assert_eq!(
            tag(&reporter.tags, "lightstep.component_name"),
            Some(&V::StringValue("tests".into()))
        );
        for point in &request.points {
            assert_eq!(
                tag(&point.labels, "lightstep.component_name"),
                Some(&V::StringValue("tests".into()))
            );
            assert!(tag(&point.labels, "lightstep.hostname").is_some());
            assert!(point.start.is_some());
            let counter = point.metric_name.starts_with("runtime.rust.cpu.");
            let kind = if counter {
                MetricKind::Counter
            } else {
                MetricKind::Gauge
            };
            assert_eq!(point.kind, kind as i32, "{}", point.metric_name);
            // A counter covers the interval since the previous report; a gauge is a moment.
            match (&point.duration, counter) {
                (Some(d), true) => {
                    let covered = Duration::new(d.seconds as u64, d.nanos as u32);
                    assert!(
                        covered >= interval / 2 && covered < Duration::from_secs(5),
                        "{covered:?}"
                    );
                }
                (None, false) => {}
                (d, _) => panic!("{}: duration {d:?}", point.metric_name),
            }
        }
        let value = |name| report.value(name).expect(name);
        assert!(value("runtime.rust.cpu.user") >= 0.0);
        assert!(value("runtime.rust.cpu.sys") >= 0.0);
        assert!(value("runtime.rust.thread_count") >= 2.0); // at least this one and the reporter
        let (rss, total, available) = (
            value("runtime.rust.mem.rss"),
            value("mem.total"),
            value("mem.available"),
        );
        assert!(
            rss > 1024.0 * 1024.0 && rss < total,
            "rss {rss}, total {total}"
        );
        assert!(
            available > 0.0 && available <= total,
            "{available} of {total}"
        );
    }
    // Different keys: each report is new, not a retry.
    let mut keys: Vec<&str> = received
        .iter()
        .map(|r| r.request.idempotency_key.as_str())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), received.len());
    // One event per report received, each saying it sent the six points (events reach
    // the handler on their own thread, so they may land after `close`).
    let expected = vec![6; received.len()];
    assert!(eventually(|| reported() == expected), "{:?}", reported());
    assert!(errors().is_empty(), "{:?}", errors());
}

#[cfg(target_os = "linux")]
#[test]
fn a_refused_report_is_an_error_event_and_the_next_covers_its_interval() {
    let _guard = watch_events();
    // The collector refuses the token before the tracer starts, so even the first report
    // is refused.
    let collector = LocalCollector::start().expect("collector starts");
    collector.require_token("another-token");
    let tracer = Tracer::new(
        Options::new(TOKEN)
            .collector_url(collector.url())
            .component_name("tests")
            .system_metrics(true)
            .system_metrics_interval(Duration::from_millis(40)),
    )
    .expect("tracer starts");
    assert!(eventually(|| collector.metrics().len() >= 3));
    tracer.close(WAIT).expect("close");
    let received = collector.metrics();
    assert!(received.iter().all(|r| r.status == 401));
    // Nothing was accepted, so every report measures its counters from the first sample:
    // each covers a longer interval, starting at the same time.
    let covered: Vec<(i64, Duration)> = received
        .iter()
        .map(|r| {
            let point = &r.request.points[0];
            assert_eq!(point.metric_name, "runtime.rust.cpu.user");
            let start = point.start.expect("start");
            let d = point.duration.expect("duration");
            (
                start.seconds * 1_000_000_000 + i64::from(start.nanos),
                Duration::new(d.seconds as u64, d.nanos as u32),
            )
        })
        .collect();
    assert!(
        covered.iter().all(|(start, _)| *start == covered[0].0),
        "{covered:?}"
    );
    assert!(covered.windows(2).all(|w| w[1].1 > w[0].1), "{covered:?}");
    // One error event per refused report, and no status report.
    let refusals = || {
        errors()
            .iter()
            .filter(|e| e.contains("system metrics: HTTP status 401"))
            .count()
    };
    assert!(
        eventually(|| refusals() == received.len()),
        "{} reports refused, errors: {:?}",
        received.len(),
        errors()
    );
    assert!(reported().is_empty(), "{:?}", reported());
    assert!(
        errors().iter().all(|e| !e.contains(TOKEN)),
        "{:?}",
        errors()
    );
}

#[test]
fn nothing_is_sent_when_disabled() {
    let _guard = watch_events();
    // Off by default, whatever the interval.
    let (collector, tracer) = tracer_with(|o| o.system_metrics_interval(Duration::from_millis(10)));
    let (explicit_collector, explicit) = tracer_with(|o| {
        o.system_metrics(false)
            .system_metrics_interval(Duration::from_millis(10))
    });
    for tracer in [&tracer, &explicit] {
        tracer.span("work").start().finish();
    }
    std::thread::sleep(Duration::from_millis(300));
    tracer.close(WAIT).expect("close");
    explicit.close(WAIT).expect("close");
    assert_eq!(collector.span_count(), 1);
    assert_eq!(explicit_collector.span_count(), 1);
    assert!(collector.metrics().is_empty());
    assert!(explicit_collector.metrics().is_empty());
}

#[cfg(not(target_os = "linux"))]
#[test]
fn elsewhere_the_option_is_accepted_and_does_nothing() {
    let (collector, tracer) = tracer_with(|o| {
        o.system_metrics(true)
            .system_metrics_interval(Duration::from_millis(10))
    });
    std::thread::sleep(Duration::from_millis(200));
    tracer.close(WAIT).expect("close");
    assert!(collector.metrics().is_empty());
}

#[test]
fn an_absurd_interval_is_refused() {
    for interval in [Duration::ZERO, Duration::from_secs(3600)] {
        let error = lightstep::Tracer::new(
            lightstep::Options::new(TOKEN)
                .collector_url("http://127.0.0.1:9")
                .system_metrics(true)
                .system_metrics_interval(interval),
        )
        .unwrap_err();
        assert!(
            matches!(
                error,
                lightstep::Error::InvalidOption {
                    option: "system_metrics_interval",
                    ..
                }
            ),
            "{error}"
        );
    }
}
