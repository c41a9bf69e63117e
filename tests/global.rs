//! The global tracer: the no-op before `init`, `init` once, `span!`, and the static
//! `flush` / `close` helpers. One test, because the global is per process.

mod common;

use common::*;
use lightstep::collector::LocalCollector;
use lightstep::{span, Error, Event, Options};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[test]
fn the_global_tracer_lifecycle() {
    lightstep::set_global_event_handler(|event| {
        if matches!(event, Event::StartError(_)) {
            SEEN.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(event.to_string());
        }
    });

    // Before init: a no-op tracer, whose spans go nowhere.
    assert!(lightstep::global().is_noop());
    {
        let mut noop = span!("ignored", "k" => 1);
        noop.set_tag("more", true);
        assert!(!noop.is_recording());
    }
    lightstep::flush();
    assert_eq!(lightstep::global().stats(), lightstep::Stats::default());

    // A failed init changes nothing and is reported.
    let error = lightstep::init(Options::new("")).unwrap_err();
    assert!(matches!(
        error,
        Error::InvalidOption {
            option: "access_token",
            ..
        }
    ));
    assert!(eventually(|| SEEN
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .len()
        == 1));
    assert!(lightstep::global().is_noop());

    let collector = LocalCollector::start().expect("collector");
    let tracer = lightstep::init(
        Options::new(TOKEN)
            .collector_url(collector.url())
            .component_name("global-test")
            .close_timeout(Duration::from_secs(2)),
    )
    .expect("init");
    assert!(matches!(
        lightstep::init(Options::new(TOKEN).collector_url(collector.url())),
        Err(Error::AlreadyInitialized)
    ));

    {
        let _request = span!("handle_request", "user.id" => 42, "cached" => false);
        let _db = span!("db.query");
    }
    lightstep::flush();
    assert_eq!(collector.spans().len(), 2);
    // After `init`, tag values are evaluated once, before the span starts; `?` in one
    // returns before any span exists.
    fn parsed(input: &str, evaluated: &mut u32) -> Result<(), std::num::ParseIntError> {
        let mut count = || {
            *evaluated += 1;
            i64::from(*evaluated)
        };
        let _span = span!("parse", "calls" => count(), "n" => input.parse::<i64>()?);
        Ok(())
    }
    let mut evaluated = 0;
    assert!(parsed("x", &mut evaluated).is_err());
    assert!(parsed("7", &mut evaluated).is_ok());
    assert_eq!(evaluated, 2);
    lightstep::flush();
    let spans = collector.spans();
    assert_eq!(
        spans.iter().filter(|s| s.operation_name == "parse").count(),
        1
    );
    {
        let _late = span!("before_close");
    }
    let started = Instant::now();
    lightstep::close();
    assert!(started.elapsed() < Duration::from_secs(2));
    lightstep::close(); // idempotent

    let spans = collector.spans();
    assert_eq!(
        names(&spans),
        vec!["db.query", "handle_request", "parse", "before_close"]
    );
    let request = named(&spans, "handle_request");
    assert_eq!(
        parents(named(&spans, "db.query")),
        vec![(trace_id(request), span_id(request))]
    );
    {
        let _after = span!("after_close");
    }
    let stats = tracer.stats();
    assert_eq!(
        (
            stats.started,
            stats.finished,
            stats.delivered,
            stats.dropped
        ),
        (5, 5, 4, 1)
    );
}
