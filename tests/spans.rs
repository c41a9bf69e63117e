//! What spans record, as the collector receives it over HTTP: nesting, tags, logs,
//! baggage, renames and explicit times.

mod common;

use common::*;
use lightstep::proto::collector::key_value::Value as V;
use lightstep::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[test]
fn active_guards_nest_and_siblings_share_a_parent() {
    let (collector, tracer) = tracer();
    {
        let _root = tracer.span("root").start_active();
        {
            let _a = tracer.span("a").start_active();
            let _a1 = tracer.span("a1").start_active();
        }
        let _b = tracer.span("b").start_active();
        let detached = tracer.span("detached").no_parent().start();
        drop(detached);
    }
    tracer.flush(WAIT).expect("flush");
    let spans = collector.spans();
    assert_eq!(spans.len(), 5, "{:?}", names(&spans));
    let root = named(&spans, "root");
    let (a, a1, b) = (named(&spans, "a"), named(&spans, "a1"), named(&spans, "b"));
    assert!(parents(root).is_empty());
    assert_eq!(parents(a), vec![(trace_id(root), span_id(root))]);
    assert_eq!(parents(b), vec![(trace_id(root), span_id(root))]);
    assert_eq!(parents(a1), vec![(trace_id(a), span_id(a))]);
    for span in [a, a1, b] {
        assert_eq!(trace_id(span), trace_id(root));
    }
    let detached = named(&spans, "detached");
    assert!(parents(detached).is_empty());
    assert_ne!(trace_id(detached), trace_id(root));
}

#[test]
fn guards_dropped_out_of_order_keep_the_stack_sound() {
    let (collector, tracer) = tracer();
    let outer = tracer.span("outer").start_active();
    let middle = tracer.span("middle").start_active();
    drop(outer); // out of order: middle stays active
    let after = tracer.span("after").start();
    drop(after);
    drop(middle);
    let root = tracer.span("root_again").start();
    drop(root);
    tracer.flush(WAIT).expect("flush");
    let spans = collector.spans();
    let middle = named(&spans, "middle");
    assert_eq!(
        parents(named(&spans, "after")),
        vec![(trace_id(middle), span_id(middle))]
    );
    assert!(parents(named(&spans, "root_again")).is_empty());
}

#[test]
fn each_thread_has_its_own_active_stack() {
    let (collector, tracer) = tracer();
    let root = tracer.span("root").start_active();
    let root_context = root.context().clone();
    let workers: Vec<_> = (0..4)
        .map(|i| {
            let tracer = tracer.clone();
            let parent = root_context.clone();
            std::thread::spawn(move || {
                // Nothing is active on a new thread: the parent must be given.
                let orphan = tracer.span(format!("orphan-{i}")).start();
                drop(orphan);
                let _job = tracer
                    .span(format!("job-{i}"))
                    .child_of(&parent)
                    .start_active();
                let _step = tracer.span(format!("step-{i}")).start_active();
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("worker");
    }
    drop(root);
    tracer.flush(WAIT).expect("flush");
    let spans = collector.spans();
    assert_eq!(spans.len(), 13);
    let root = named(&spans, "root");
    for i in 0..4 {
        let job = named(&spans, &format!("job-{i}"));
        assert_eq!(parents(job), vec![(trace_id(root), span_id(root))]);
        let step = named(&spans, &format!("step-{i}"));
        assert_eq!(parents(step), vec![(trace_id(job), span_id(job))]);
        assert!(parents(named(&spans, &format!("orphan-{i}"))).is_empty());
    }
}

#[test]
fn every_tag_type_keeps_its_type() {
    let (collector, tracer) = tracer();
    let mut span = tracer
        .span("tagged")
        .tag("string", "hello")
        .tag("int", -7)
        .start();
    span.set_tag("float", 0.5);
    span.set_tag("bool", true);
    span.set_tag("json", Value::Json(r#"{"a":1}"#.into()));
    span.set_tag("big", u64::MAX);
    span.set_tag(String::from("owned"), String::from("value"));
    span.finish();
    tracer.flush(WAIT).expect("flush");
    let spans = collector.spans();
    let tags = &named(&spans, "tagged").tags;
    assert_eq!(tag(tags, "string"), Some(&V::StringValue("hello".into())));
    assert_eq!(tag(tags, "int"), Some(&V::IntValue(-7)));
    assert_eq!(tag(tags, "float"), Some(&V::DoubleValue(0.5)));
    assert_eq!(tag(tags, "bool"), Some(&V::BoolValue(true)));
    assert_eq!(tag(tags, "json"), Some(&V::JsonValue(r#"{"a":1}"#.into())));
    assert_eq!(
        tag(tags, "big"),
        Some(&V::StringValue(u64::MAX.to_string()))
    );
    assert_eq!(tag(tags, "owned"), Some(&V::StringValue("value".into())));
}

#[test]
fn logs_carry_fields_and_respect_limits() {
    let (collector, tracer) = tracer_with(|o| {
        o.max_log_key_len(8)
            .max_log_value_len(10)
            .max_logs_per_span(5)
    });
    let mut span = tracer.span("logged").start();
    span.log([
        ("event", Value::from("cache_miss")),
        ("attempt", Value::from(3)),
    ]);
    span.log([("a_very_long_key", Value::from("ééééééééééééé"))]);
    for i in 0..10 {
        span.log_event(format!("e{i}"));
    }
    span.finish();
    tracer.flush(WAIT).expect("flush");
    let spans = collector.spans();
    let logs = &named(&spans, "logged").logs;
    // Kept: the first two, a summary, the two newest.
    assert_eq!(logs.len(), 5, "{logs:?}");
    assert_eq!(
        tag(&logs[0].fields, "event"),
        Some(&V::StringValue("cache_miss".into()))
    );
    assert_eq!(tag(&logs[0].fields, "attempt"), Some(&V::IntValue(3)));
    let cut = &logs[1].fields[0];
    assert!(cut.key.len() <= 8 && cut.key.ends_with('…'), "{}", cut.key);
    match &cut.value {
        Some(V::StringValue(s)) => assert!(s.len() <= 10 && s.ends_with('…'), "{s}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(tag(&logs[2].fields, "dropped_logs"), Some(&V::IntValue(8)));
    assert_eq!(
        tag(&logs[3].fields, "event"),
        Some(&V::StringValue("e8".into()))
    );
    assert_eq!(
        tag(&logs[4].fields, "event"),
        Some(&V::StringValue("e9".into()))
    );
    let start = named(&spans, "logged").start_timestamp.expect("start");
    let at = logs[0].timestamp.expect("log time");
    assert!((at.seconds, at.nanos) >= (start.seconds, start.nanos));
}

#[test]
fn dropped_span_logs_are_not_sent() {
    let (collector, tracer) = tracer_with(|o| o.drop_span_logs(true));
    let mut span = tracer.span("quiet").start();
    span.log_event("never seen");
    span.finish();
    tracer.flush(WAIT).expect("flush");
    assert!(named(&collector.spans(), "quiet").logs.is_empty());
}

#[test]
fn baggage_flows_to_children_and_into_the_report() {
    let (collector, tracer) = tracer();
    {
        let mut root = tracer.span("root").start_active();
        root.set_baggage_item("user.id", "alice");
        assert_eq!(root.baggage_item("user.id"), Some("alice"));
        let child = tracer.span("child").start();
        assert_eq!(child.context().baggage_item("user.id"), Some("alice"));
    }
    tracer.flush(WAIT).expect("flush");
    let spans = collector.spans();
    let child = named(&spans, "child")
        .span_context
        .clone()
        .expect("context");
    assert_eq!(
        child.baggage.get("user.id").map(String::as_str),
        Some("alice")
    );
}

#[test]
fn rename_explicit_times_and_follows_from() {
    let (collector, tracer) = tracer();
    let start = UNIX_EPOCH + Duration::new(1_700_000_000, 250_000_000);
    let cause = tracer.span("cause").start();
    let mut span = tracer
        .span("first-name")
        .follows_from(cause.context())
        .start_time(start)
        .start();
    span.set_operation_name("renamed");
    span.finish_at(start + Duration::from_millis(750));
    drop(cause);
    tracer.flush(WAIT).expect("flush");
    let spans = collector.spans();
    let span = named(&spans, "renamed");
    let ts = span.start_timestamp.expect("start");
    assert_eq!((ts.seconds, ts.nanos), (1_700_000_000, 250_000_000));
    assert_eq!(span.duration_micros, 750_000);
    assert_eq!(span.references.len(), 1);
    assert_eq!(span.references[0].relationship, 1, "FOLLOWS_FROM");
    let cause = named(&spans, "cause");
    let reference = span.references[0].span_context.clone().expect("ref");
    assert_eq!(
        (reference.trace_id, reference.span_id),
        (trace_id(cause), span_id(cause))
    );
}

#[test]
fn implicit_times_are_wall_clock_and_durations_measured() {
    let (collector, tracer) = tracer();
    let before = SystemTime::now();
    let span = tracer.span("timed").start();
    std::thread::sleep(Duration::from_millis(20));
    drop(span);
    let after = SystemTime::now();
    tracer.flush(WAIT).expect("flush");
    let spans = collector.spans();
    let span = named(&spans, "timed");
    let ts = span.start_timestamp.expect("start");
    let start = UNIX_EPOCH + Duration::new(ts.seconds as u64, ts.nanos as u32);
    assert!(
        start >= before - Duration::from_millis(5) && start <= after,
        "{start:?}"
    );
    assert!(span.duration_micros >= 20_000, "{}", span.duration_micros);
    assert!(span.duration_micros < 5_000_000, "{}", span.duration_micros);
}

#[test]
fn unsampled_parents_are_honoured_without_counting_drops() {
    let (collector, tracer) = tracer();
    let parent = lightstep::SpanContext::new(0xabc, 0xdef).with_sampled(false);
    {
        let span = tracer.span("unsampled").child_of(&parent).start_active();
        assert!(!span.is_recording());
        let child = tracer.span("unsampled-child").start();
        assert!(!child.context().sampled());
    }
    tracer.span("sampled").start().finish();
    tracer.flush(WAIT).expect("flush");
    assert_eq!(names(&collector.spans()), vec!["sampled"]);
    let stats = tracer.stats();
    assert_eq!(
        (
            stats.finished,
            stats.unsampled,
            stats.delivered,
            stats.dropped
        ),
        (3, 2, 1, 0)
    );
}

#[test]
fn spans_dropped_by_a_panic_are_marked_as_errors() {
    let (collector, tracer) = tracer();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _guard = tracer.span("guarded").start_active();
        let _plain = tracer.span("plain").start();
        tracer.span("finished first").start().finish();
        panic!("boom");
    }));
    assert!(result.is_err(), "the closure panicked");
    tracer.span("after").start().finish();
    tracer.flush(WAIT).expect("flush");
    let spans = collector.spans();
    let panic_log = |span: &lightstep::proto::collector::Span| {
        span.logs
            .iter()
            .any(|log| tag(&log.fields, "event") == Some(&V::StringValue("panic".into())))
    };
    for name in ["guarded", "plain"] {
        let span = named(&spans, name);
        assert_eq!(
            tag(&span.tags, "error"),
            Some(&V::BoolValue(true)),
            "{name}"
        );
        assert!(panic_log(span), "{name}");
    }
    for name in ["finished first", "after"] {
        let span = named(&spans, name);
        assert_eq!(tag(&span.tags, "error"), None, "{name}");
        assert!(!panic_log(span), "{name}");
    }
    // The unwound guard left the active stack clean: `after` is a root.
    assert!(parents(named(&spans, "after")).is_empty());
}

#[test]
fn span_tag_values_may_use_the_question_mark_and_go_unevaluated_before_init() {
    fn traced(input: &str, evaluated: &mut u32) -> Result<u32, std::num::ParseIntError> {
        let mut count = || {
            *evaluated += 1;
            *evaluated
        };
        let _span = lightstep::span!("parse", "n" => input.parse::<i64>()?, "calls" => count());
        Ok(1)
    }
    assert!(
        lightstep::global().is_noop(),
        "this test binary never calls init"
    );
    let mut evaluated = 0;
    // Before `init`, `span!` evaluates nothing: not even the failing parse.
    assert_eq!(traced("x", &mut evaluated), Ok(1));
    assert_eq!(evaluated, 0);
}

#[test]
fn the_handles_stay_shareable_across_threads() {
    // Checked by the compiler: `Tracer` stays `Clone + Send + Sync`, a span and its
    // context can move to (and be shared with) other threads.
    fn shareable<T: Send + Sync + 'static>() {}
    fn cloneable<T: Clone>() {}
    shareable::<lightstep::Tracer>();
    cloneable::<lightstep::Tracer>();
    shareable::<lightstep::Span>();
    shareable::<lightstep::SpanContext>();
    cloneable::<lightstep::SpanContext>();
    // And a span moved to another thread is finished there and delivered.
    let (collector, tracer) = tracer();
    let span = tracer.span("moved").tag("k", "v").start();
    std::thread::spawn(move || drop(span))
        .join()
        .expect("thread");
    tracer.flush(WAIT).expect("flush");
    assert_eq!(collector.spans()[0].operation_name, "moved");
}

#[test]
fn explicit_times_before_the_epoch_reach_the_collector_as_given() {
    let (collector, tracer) = tracer();
    let start = UNIX_EPOCH - Duration::from_millis(1500);
    let mut span = tracer.span("historic").start_time(start).start();
    span.finish_at(start + Duration::from_millis(250));
    tracer.flush(WAIT).expect("flush");
    let span = &collector.spans()[0];
    let ts = span.start_timestamp.expect("start");
    assert_eq!((ts.seconds, ts.nanos), (-2, 500_000_000));
    assert_eq!(span.duration_micros, 250_000);
}
