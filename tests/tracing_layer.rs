//! The `tracing` layer (feature `tracing`), end to end: `tracing` spans and events made
//! with the `tracing` macros, reported through a real tracer to a local collector over
//! HTTP, and their nesting with `span!` guards in both orders and across threads.

mod common;

use common::*;
use lightstep::proto::collector::key_value::Value as V;
use lightstep::proto::collector::{KeyValue, Log, Span};
use lightstep::{Options, Tracer, TracingLayer};
use std::time::Duration;
use tracing::{dispatcher, Dispatch};
use tracing_subscriber::layer::SubscriberExt;

/// A dispatcher whose only layer reports to `tracer`.
fn dispatch(tracer: &Tracer) -> Dispatch {
    Dispatch::new(tracing_subscriber::registry().with(TracingLayer::new(tracer.clone())))
}

/// Runs `body` with `tracer`'s layer as this thread's subscriber, then flushes.
fn traced(tracer: &Tracer, body: impl FnOnce()) {
    dispatcher::with_default(&dispatch(tracer), body);
    tracer.flush(WAIT).expect("flush");
}

fn child_of(child: &Span, parent: &Span) -> bool {
    parents(child) == vec![(trace_id(parent), span_id(parent))]
        && trace_id(child) == trace_id(parent)
}

fn field<'a>(log: &'a Log, key: &str) -> Option<&'a V> {
    tag(&log.fields, key)
}

fn string(value: &str) -> Option<V> {
    Some(V::StringValue(value.to_owned()))
}

fn keys(fields: &[KeyValue]) -> Vec<&str> {
    fields.iter().map(|kv| kv.key.as_str()).collect()
}

#[test]
fn nested_tracing_spans_become_one_trace() {
    let (collector, tracer) = tracer();
    traced(&tracer, || {
        let outer = tracing::info_span!("outer");
        outer.in_scope(|| {
            let _middle = tracing::debug_span!("middle").entered();
            let _inner = tracing::trace_span!("inner").entered();
        });
        // Siblings: made after `middle` closed, inside `outer` again.
        let _sibling = tracing::info_span!(parent: &outer, "explicit_child").entered();
        let _root = tracing::info_span!(parent: None, "explicit_root").entered();
        let _nested_in_root = tracing::info_span!("in_root").entered();
    });
    let spans = collector.spans();
    assert_eq!(spans.len(), 6, "{:?}", names(&spans));
    let outer = named(&spans, "outer");
    let middle = named(&spans, "middle");
    assert!(parents(outer).is_empty());
    assert!(child_of(middle, outer));
    assert!(child_of(named(&spans, "inner"), middle));
    assert!(child_of(named(&spans, "explicit_child"), outer));
    let root = named(&spans, "explicit_root");
    assert!(parents(root).is_empty());
    assert_ne!(trace_id(root), trace_id(outer));
    assert!(child_of(named(&spans, "in_root"), root));
    // Spans finish when they close: children first.
    let stats = tracer.stats();
    assert_eq!((stats.started, stats.finished, stats.delivered), (6, 6, 6));
}

#[derive(Debug)]
#[allow(dead_code)] // read through `Debug` only
struct Point {
    x: i32,
}

#[derive(Debug)]
struct Failure;

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("disk full")
    }
}

impl std::error::Error for Failure {}

#[test]
fn span_fields_become_typed_tags() {
    let (collector, tracer) = tracer();
    traced(&tracer, || {
        let error: &(dyn std::error::Error + 'static) = &Failure;
        let span = tracing::info_span!(
            "fields",
            int = -7_i64,
            small_u64 = 42_u64,
            huge_u64 = u64::MAX,
            float = 2.5_f64,
            flag = true,
            text = "hello",
            debug = ?Point { x: 3 },
            display = %"shown",
            error,
            late = tracing::field::Empty,
        );
        span.record("late", 99_i64);
    });
    let spans = collector.spans();
    let span = named(&spans, "fields");
    let tags = &span.tags;
    assert_eq!(tag(tags, "int"), Some(&V::IntValue(-7)));
    assert_eq!(tag(tags, "small_u64"), Some(&V::IntValue(42)));
    assert_eq!(
        tag(tags, "huge_u64").cloned(),
        string("18446744073709551615")
    );
    assert_eq!(tag(tags, "float"), Some(&V::DoubleValue(2.5)));
    assert_eq!(tag(tags, "flag"), Some(&V::BoolValue(true)));
    assert_eq!(tag(tags, "text").cloned(), string("hello"));
    assert_eq!(tag(tags, "debug").cloned(), string("Point { x: 3 }"));
    assert_eq!(tag(tags, "display").cloned(), string("shown"));
    assert_eq!(tag(tags, "error").cloned(), string("disk full"));
    assert_eq!(tag(tags, "late"), Some(&V::IntValue(99)));
    assert_eq!(tags.len(), 10, "{:?}", keys(tags));
}

#[test]
fn events_in_a_span_become_its_logs() {
    let (collector, tracer) = tracer();
    traced(&tracer, || {
        tracing::info!("outside any span: not reported");
        let _span = tracing::info_span!("work").entered();
        tracing::info!(rows = 3_u64, cached = false, "query took {} ms", 12);
        tracing::warn!(retry = 1_i64, "slow");
        tracing::debug!(ratio = 0.25_f64);
        tracing::error!(code = "E42", "failed");
    });
    let spans = collector.spans();
    assert_eq!(spans.len(), 1, "{:?}", names(&spans));
    let span = named(&spans, "work");
    let logs = &span.logs;
    assert_eq!(logs.len(), 4);
    let first = &logs[0];
    assert_eq!(field(first, "level").cloned(), string("INFO"));
    assert_eq!(field(first, "message").cloned(), string("query took 12 ms"));
    assert_eq!(field(first, "rows"), Some(&V::IntValue(3)));
    assert_eq!(field(first, "cached"), Some(&V::BoolValue(false)));
    assert_eq!(
        keys(&first.fields),
        vec!["level", "message", "rows", "cached"]
    );
    assert_eq!(field(&logs[1], "level").cloned(), string("WARN"));
    assert_eq!(field(&logs[1], "message").cloned(), string("slow"));
    assert_eq!(field(&logs[1], "retry"), Some(&V::IntValue(1)));
    assert_eq!(field(&logs[2], "level").cloned(), string("DEBUG"));
    assert_eq!(field(&logs[2], "ratio"), Some(&V::DoubleValue(0.25)));
    assert_eq!(field(&logs[2], "message"), None);
    assert_eq!(field(&logs[3], "level").cloned(), string("ERROR"));
    assert_eq!(field(&logs[3], "code").cloned(), string("E42"));
    // Logs are in order and inside the span's time.
    let start = span.start_timestamp.expect("start");
    let mut previous = (start.seconds, start.nanos);
    for log in logs {
        let at = log.timestamp.expect("log time");
        assert!((at.seconds, at.nanos) >= previous);
        previous = (at.seconds, at.nanos);
    }
    // An ERROR event marks the span as failed, as OpenTracing's `error` tag does.
    assert_eq!(tag(&span.tags, "error"), Some(&V::BoolValue(true)));
}

#[test]
fn follows_from_becomes_a_reference() {
    let (collector, tracer) = tracer();
    traced(&tracer, || {
        let cause = tracing::info_span!("cause");
        let effect = tracing::info_span!(parent: None, "effect");
        effect.follows_from(&cause);
    });
    let spans = collector.spans();
    let (cause, effect) = (named(&spans, "cause"), named(&spans, "effect"));
    let references: Vec<(i32, u64)> = effect
        .references
        .iter()
        .map(|r| {
            (
                r.relationship,
                r.span_context.as_ref().expect("context").span_id,
            )
        })
        .collect();
    assert_eq!(references, vec![(1, span_id(cause))]); // FOLLOWS_FROM
}

#[test]
fn a_span_made_on_one_thread_is_entered_on_another() {
    let (collector, tracer) = tracer();
    let dispatch = dispatch(&tracer);
    let request =
        dispatcher::with_default(&dispatch, || tracing::info_span!("request", id = 7_i64));
    let worker = {
        let (dispatch, tracer) = (dispatch.clone(), tracer.clone());
        std::thread::spawn(move || {
            dispatcher::with_default(&dispatch, || {
                let _entered = request.enter();
                // Both kinds of child on the worker, while `request` is entered there.
                let _step = tracing::info_span!("worker_step").entered();
                tracing::info!("working");
                let native = tracer.span("worker_native").start_active();
                drop(native);
            });
            // Exited and closed on the worker: nothing is left active there.
            drop(request);
            tracer.span("worker_after").start().finish();
        })
    };
    worker.join().expect("worker");
    // This thread never entered `request`: its spans have no parent.
    dispatcher::with_default(&dispatch, || {
        let _main = tracing::info_span!("main_after").entered();
    });
    tracer.flush(WAIT).expect("flush");
    let spans = collector.spans();
    assert_eq!(spans.len(), 5, "{:?}", names(&spans));
    let request = named(&spans, "request");
    let step = named(&spans, "worker_step");
    assert!(parents(request).is_empty());
    assert!(child_of(step, request));
    assert!(child_of(named(&spans, "worker_native"), step));
    assert_eq!(field(&step.logs[0], "message").cloned(), string("working"));
    assert!(parents(named(&spans, "worker_after")).is_empty());
    assert!(parents(named(&spans, "main_after")).is_empty());
}

#[test]
fn tracing_spans_and_lightstep_guards_nest_both_ways() {
    let (collector, tracer) = tracer();
    traced(&tracer, || {
        // lightstep guard > tracing span > lightstep guard > tracing span.
        let _outer = tracer.span("ls_outer").start_active();
        let tracing_outer = tracing::info_span!("tr_outer").entered();
        {
            let _inner = tracer.span("ls_inner").start_active();
            let _leaf = tracing::info_span!("tr_leaf").entered();
            // Events go to the innermost tracing span.
            tracing::info!("in the leaf");
        }
        // Closed out of order: the tracing span exits while a lightstep guard it
        // parented is still alive; the stack stays sound.
        let late = tracer.span("ls_late").start_active();
        drop(tracing_outer);
        let _after = tracing::info_span!("tr_after").entered();
        drop(late);
    });
    let spans = collector.spans();
    assert_eq!(spans.len(), 6, "{:?}", names(&spans));
    let ls_outer = named(&spans, "ls_outer");
    let tr_outer = named(&spans, "tr_outer");
    let ls_inner = named(&spans, "ls_inner");
    let tr_leaf = named(&spans, "tr_leaf");
    assert!(parents(ls_outer).is_empty());
    assert!(child_of(tr_outer, ls_outer));
    assert!(child_of(ls_inner, tr_outer));
    assert!(child_of(tr_leaf, ls_inner));
    assert_eq!(tr_leaf.logs.len(), 1);
    let ls_late = named(&spans, "ls_late");
    assert!(child_of(ls_late, tr_outer));
    // `tr_outer` was exited: `tr_after`'s parent is the innermost still active, `ls_late`.
    assert!(child_of(named(&spans, "tr_after"), ls_late));
}

#[test]
fn a_re_entered_tracing_span_keeps_its_baggage_for_children() {
    let (collector, tracer) = tracer();
    let mut seen = None;
    traced(&tracer, || {
        let mut request = tracer.span("request").start_active();
        request.set_baggage_item("tenant", "acme");
        let handler = tracing::info_span!("handler");
        let _outer = handler.enter();
        {
            // `tracing` lets a span be entered again while it is entered.
            let _again = handler.enter();
        }
        let query = tracer.span("query").start();
        seen = query.baggage_item("tenant").map(str::to_owned);
    });
    assert_eq!(
        seen.as_deref(),
        Some("acme"),
        "the baggage survived the re-entry"
    );
    let spans = collector.spans();
    assert!(child_of(named(&spans, "query"), named(&spans, "handler")));
}

#[test]
fn the_global_layer_reports_to_the_global_tracer_with_span_macro() {
    let collector = lightstep::collector::LocalCollector::start().expect("collector");
    // Installed before `init`: spans made then go nowhere.
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(lightstep::tracing_layer()));
    dispatcher::with_default(&dispatch, || {
        let _ignored = tracing::info_span!("before_init").entered();
    });
    let tracer = lightstep::init(
        Options::new(TOKEN)
            .collector_url(collector.url())
            .component_name("tests"),
    )
    .expect("init");
    dispatcher::with_default(&dispatch, || {
        // `span!` outside, `tracing` inside, `span!` inside that.
        let _request = lightstep::span!("handle_request", "user.id" => 42);
        let _db = tracing::info_span!("db", table = "users").entered();
        let _decode = lightstep::span!("decode_rows");
        tracing::info!("logged on `db`, the innermost tracing span");
    });
    tracer.flush(WAIT).expect("flush");
    let spans = collector.spans();
    assert_eq!(spans.len(), 3, "{:?}", names(&spans));
    let request = named(&spans, "handle_request");
    let db = named(&spans, "db");
    assert!(child_of(db, request));
    assert!(child_of(named(&spans, "decode_rows"), db));
    assert_eq!(db.logs.len(), 1);
    assert_eq!(tag(&db.tags, "table").cloned(), string("users"));
    lightstep::close();
    assert!(collector.wait_for_spans(3, Duration::from_secs(1)));
}

#[test]
fn tracing_spans_a_panic_unwinds_through_are_marked_as_errors() {
    let (collector, tracer) = tracer();
    let outlives = dispatcher::with_default(&dispatch(&tracer), || {
        let outlives = tracing::info_span!("outlives");
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _entered = tracing::info_span!("entered").entered();
            let _held = tracing::info_span!("held");
            let _in_outlives = outlives.enter();
            tracing::info_span!("closed before").in_scope(|| {});
            panic!("boom");
        }));
        assert!(result.is_err());
        tracing::info_span!("after").in_scope(|| {});
        outlives
    });
    drop(outlives);
    tracer.flush(WAIT).expect("flush");
    let spans = collector.spans();
    let marked = |name: &str| {
        let span = named(&spans, name);
        let error = tag(&span.tags, "error") == Some(&V::BoolValue(true));
        let logs = span
            .logs
            .iter()
            .filter(|log| field(log, "event") == string("panic").as_ref())
            .count();
        (error, logs)
    };
    // Entered when the panic went through it, or dropped by the unwinding: marked once.
    assert_eq!(marked("entered"), (true, 1));
    assert_eq!(marked("held"), (true, 1));
    assert_eq!(marked("outlives"), (true, 1));
    assert_eq!(marked("closed before"), (false, 0));
    assert_eq!(marked("after"), (false, 0));
}
