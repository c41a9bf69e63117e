//! What reaches the collector, and when: report contents, flush, close, and the
//! accounting of dropped spans.

mod common;

use common::*;
use lightstep::proto::collector::key_value::Value as V;
use lightstep::{Error, Options, Tracer};
use std::time::{Duration, Instant};

#[test]
fn reports_carry_the_token_reporter_and_tags() {
    let (collector, tracer) = tracer_with(|o| o.tag("deployment", "canary").tag("shard", 3));
    tracer.span("one").start().finish();
    tracer.flush(WAIT).expect("first flush");
    tracer.span("two").start().finish();
    tracer.flush(WAIT).expect("second flush");
    let reports = collector.reports();
    assert_eq!(reports.len(), 2);
    for report in &reports {
        assert_eq!(report.token_header.as_deref(), Some(TOKEN));
        assert_eq!(
            report
                .request
                .auth
                .as_ref()
                .map(|a| a.access_token.as_str()),
            Some(TOKEN)
        );
        assert_eq!(
            report.dropped_spans(),
            Some(0),
            "spans.dropped is sent explicitly"
        );
    }
    let first = reports[0].request.reporter.clone().expect("reporter");
    let second = reports[1].request.reporter.clone().expect("reporter");
    assert_ne!(first.reporter_id, 0);
    assert_eq!(first.reporter_id, second.reporter_id, "stable per tracer");
    let tags = &first.tags;
    assert_eq!(
        tag(tags, "deployment"),
        Some(&V::StringValue("canary".into()))
    );
    assert_eq!(tag(tags, "shard"), Some(&V::IntValue(3)));
    assert_eq!(
        tag(tags, "lightstep.component_name"),
        Some(&V::StringValue("tests".into()))
    );
    assert_eq!(
        tag(tags, "lightstep.tracer_platform"),
        Some(&V::StringValue("rust".into()))
    );
    assert_eq!(
        tag(tags, "lightstep.tracer_version"),
        Some(&V::StringValue(env!("CARGO_PKG_VERSION").into()))
    );
    assert_eq!(
        tag(tags, "lightstep.guid"),
        Some(&V::StringValue(format!("{:x}", first.reporter_id)))
    );
    assert_eq!(
        tag(tags, "lightstep.command_line"),
        None,
        "the command line goes only when asked for"
    );
    for key in ["lightstep.hostname", "lightstep.tracer_platform_version"] {
        match tag(tags, key) {
            Some(V::StringValue(s)) => assert!(!s.is_empty(), "{key} empty"),
            other => panic!("{key}: {other:?}"),
        }
    }
    // User tags come first, then the tracer's own.
    assert_eq!(tags[0].key, "deployment");

    let other = Tracer::new(Options::new(TOKEN).collector_url(collector.url())).expect("tracer");
    other.span("three").start().finish();
    other.flush(WAIT).expect("flush");
    let third = collector.reports()[2]
        .request
        .reporter
        .clone()
        .expect("reporter");
    assert_ne!(third.reporter_id, first.reporter_id, "random per tracer");
}

#[test]
fn the_command_line_is_sent_only_when_asked_for() {
    let (collector, tracer) = tracer_with(|o| o.report_command_line(true));
    tracer.span("one").start().finish();
    tracer.flush(WAIT).expect("flush");
    let reporter = collector.reports()[0]
        .request
        .reporter
        .clone()
        .expect("reporter");
    let line: Vec<String> = std::env::args().collect();
    assert_eq!(
        tag(&reporter.tags, "lightstep.command_line"),
        Some(&V::StringValue(line.join(" ")))
    );
}

#[test]
fn nothing_to_say_sends_no_report() {
    let (collector, tracer) = tracer();
    tracer.flush(WAIT).expect("flush");
    tracer.close(WAIT).expect("close");
    assert!(collector.reports().is_empty());
}

#[test]
fn close_delivers_everything_pending_then_counts_stragglers_dropped() {
    let (collector, tracer) = tracer_with(|o| {
        o.max_reporting_period(Duration::from_secs(600))
            .min_reporting_period(Duration::from_secs(300))
    });
    for i in 0..500 {
        tracer.span(format!("s{i}")).tag("i", i).start().finish();
    }
    let started = Instant::now();
    tracer.close(WAIT).expect("close");
    assert!(started.elapsed() < WAIT);
    assert_eq!(collector.spans().len(), 500);
    tracer.close(WAIT).expect("close is idempotent");
    tracer.span("late").start().finish();
    assert_eq!(tracer.flush(WAIT), Err(Error::Closed));
    let stats = tracer.stats();
    assert_eq!(
        (
            stats.finished,
            stats.delivered,
            stats.dropped,
            stats.pending
        ),
        (501, 500, 1, 0)
    );
    assert_eq!(collector.spans().len(), 500);
}

#[test]
fn a_full_buffer_drops_and_the_count_reaches_the_collector() {
    // Reports wait for the long minimum period, so the buffer (4 spans) fills up.
    let (collector, tracer) = tracer_with(|o| {
        o.max_buffered_spans(4)
            .min_reporting_period(Duration::from_secs(300))
            .max_reporting_period(Duration::from_secs(600))
    });
    for _ in 0..100 {
        tracer.span("burst").start().finish();
    }
    let stats = tracer.stats();
    assert_eq!(stats.finished, 100);
    // The channel half of the buffer (2) always fills; the batch half may take 2 more.
    assert!((96..=98).contains(&stats.dropped), "{stats:?}");
    assert_eq!(
        stats.pending + stats.dropped,
        100,
        "held {} spans with a buffer of 4",
        stats.pending
    );
    tracer.flush(WAIT).expect("flush");
    let stats = tracer.stats();
    assert_eq!(stats.delivered + stats.dropped, 100, "{stats:?}");
    assert_eq!(collector.spans().len() as u64, stats.delivered);
    let reported: i64 = collector
        .reports()
        .iter()
        .filter_map(|r| r.dropped_spans())
        .sum();
    assert_eq!(reported as u64, stats.dropped);
}

#[test]
fn reports_are_split_under_max_report_bytes() {
    let limit = 16 * 1024;
    let (collector, tracer) = tracer_with(|o| o.max_report_bytes(limit));
    let padding = "x".repeat(1000);
    for i in 0..100 {
        tracer
            .span("big")
            .tag("i", i)
            .tag("padding", padding.clone())
            .start()
            .finish();
    }
    tracer.flush(WAIT).expect("flush");
    let reports = collector.reports();
    assert!(reports.len() >= 7, "{} reports", reports.len());
    assert!(
        reports.iter().all(|r| r.body_bytes <= limit),
        "{:?}",
        reports.iter().map(|r| r.body_bytes).collect::<Vec<_>>()
    );
    assert_eq!(collector.spans().len(), 100);
    let stats = tracer.stats();
    assert_eq!((stats.delivered, stats.dropped), (100, 0));
}

#[test]
fn the_periodic_timer_sends_without_a_flush() {
    let (collector, tracer) = tracer_with(|o| {
        o.min_reporting_period(Duration::from_millis(20))
            .max_reporting_period(Duration::from_millis(50))
    });
    tracer.span("tick").start().finish();
    assert!(collector.wait_for_spans(1, WAIT), "no periodic report");
    assert!(
        eventually(|| tracer.stats().delivered == 1),
        "{:?}",
        tracer.stats()
    );
}

#[test]
fn dropping_every_handle_delivers_what_is_left() {
    let collector = lightstep::collector::LocalCollector::start().expect("collector");
    let tracer = Tracer::new(Options::new(TOKEN).collector_url(collector.url())).expect("tracer");
    let span = tracer.span("last words").start();
    drop(tracer);
    drop(span); // the span held the last handle
    assert!(collector.wait_for_spans(1, WAIT));
}

#[test]
fn invalid_options_are_refused() {
    let cases = [
        (Options::new(""), "access_token"),
        (
            Options::new("t").collector_url("collector.example.com:443"),
            "collector_url",
        ),
        (
            Options::new("t").collector_url("http://:80"),
            "collector_url",
        ),
        (
            Options::new("t").max_buffered_spans(0),
            "max_buffered_spans",
        ),
        (Options::new("t").tag("lightstep.guid", "x"), "tag"),
        // Without the `grpc` feature `use_grpc` itself is refused; with it, the URL (a
        // gRPC URL has no path).
        (
            Options::new("t")
                .use_grpc()
                .collector_url("http://127.0.0.1:9/base"),
            if cfg!(feature = "grpc") {
                "collector_url"
            } else {
                "use_grpc"
            },
        ),
        (
            Options::new("t").root_certificates_pem("not a pem"),
            "root_certificates_pem",
        ),
    ];
    for (options, option) in cases {
        match Tracer::new(options) {
            Err(Error::InvalidOption {
                option: got,
                reason,
            }) => {
                assert_eq!(got, option, "{reason}");
                assert!(!reason.is_empty());
            }
            other => panic!("{option}: {other:?}"),
        }
    }
}

#[test]
fn the_token_never_shows_in_debug_output() {
    let secret = "secret-token-3b7f1d";
    let options = Options::new(secret).collector_url("http://127.0.0.1:9");
    assert!(!format!("{options:?}").contains(secret));
    let tracer = Tracer::new(options).expect("tracer");
    assert!(!format!("{tracer:?}").contains(secret));
    let error = Tracer::new(Options::new(secret).collector_url("bad url")).unwrap_err();
    assert!(!format!("{error:?} {error}").contains(secret));
}

#[test]
fn reporter_tags_must_leave_room_for_spans() {
    let options = Options::new(TOKEN)
        .collector_url("http://127.0.0.1:9")
        .max_report_bytes(1024)
        .tag("big", "x".repeat(2000));
    match Tracer::new(options) {
        Err(Error::InvalidOption { option, .. }) => assert_eq!(option, "max_report_bytes"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn flush_does_not_chase_spans_finished_after_it_began() {
    let (collector, tracer) = tracer();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let producer = {
        let (tracer, stop) = (tracer.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                tracer.span("busy").start().finish();
            }
        })
    };
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(50));
        tracer
            .flush(Duration::from_secs(5))
            .expect("flush under load");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    producer.join().expect("producer");
    tracer.flush(WAIT).expect("flush");
    let stats = tracer.stats();
    assert_eq!(stats.delivered + stats.dropped, stats.finished, "{stats:?}");
    assert_eq!(collector.span_count() as u64, stats.delivered);
}
