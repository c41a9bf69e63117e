//! The OpenTelemetry exporter (feature `opentelemetry`), end to end: spans made with an
//! `opentelemetry_sdk` tracer provider (simple and batch processors) are reported through
//! a real tracer to a local collector over HTTP, with their ids, parents, links, tags and
//! logs.

mod common;

use common::*;
use lightstep::proto::collector::key_value::Value as V;
use lightstep::OpenTelemetryExporter;
use opentelemetry::trace::{
    Link, Span as _, SpanContext, SpanKind, Status, TraceContextExt, Tracer as _,
    TracerProvider as _,
};
use opentelemetry::{Context, InstrumentationScope, KeyValue, StringValue};
use opentelemetry_sdk::trace::SdkTracerProvider;

/// The (low, high) halves of a trace id and the span id, as LightStep reports them.
fn ids(context: &SpanContext) -> (u64, u64, u64) {
    let trace = u128::from_be_bytes(context.trace_id().to_bytes());
    let span = u64::from_be_bytes(context.span_id().to_bytes());
    (trace as u64, (trace >> 64) as u64, span)
}

fn string(value: &str) -> Option<V> {
    Some(V::StringValue(value.to_owned()))
}

#[test]
fn spans_from_a_simple_processor_keep_ids_parents_and_tags() {
    let (collector, tracer) = tracer();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(OpenTelemetryExporter::new(tracer.clone()))
        .build();
    let otel = provider.tracer_with_scope(
        InstrumentationScope::builder("checkout-lib")
            .with_version("1.2.3")
            .build(),
    );

    let parent = otel
        .span_builder("handle_request")
        .with_kind(SpanKind::Server)
        .with_attributes(vec![
            KeyValue::new("int", -5_i64),
            KeyValue::new("float", 0.5_f64),
            KeyValue::new("flag", true),
            KeyValue::new("text", "hello"),
            KeyValue::new(
                "list",
                opentelemetry::Value::Array(
                    vec![StringValue::from("a"), StringValue::from("b\"c")].into(),
                ),
            ),
        ])
        .start(&otel);
    let parent_context = parent.span_context().clone();
    let cx = Context::current_with_span(parent);

    let mut child = otel.start_with_context("db.query", &cx);
    child.add_event("retry", vec![KeyValue::new("attempt", 2_i64)]);
    child.set_status(Status::error("connection reset"));
    let child_context = child.span_context().clone();
    child.end();

    let mut linked = otel
        .span_builder("async_job")
        .with_kind(SpanKind::Consumer)
        .with_links(vec![Link::with_context(parent_context.clone())])
        .start_with_context(&otel, &Context::new());
    linked.set_status(Status::Ok);
    let linked_context = linked.span_context().clone();
    linked.end();
    cx.span().end();

    tracer.flush(WAIT).expect("flush");
    let spans = collector.spans();
    assert_eq!(spans.len(), 3, "{:?}", names(&spans));

    let (trace_low, trace_high, parent_id) = ids(&parent_context);
    let parent = named(&spans, "handle_request");
    assert_eq!((trace_id(parent), span_id(parent)), (trace_low, parent_id));
    assert!(parents(parent).is_empty());
    assert_eq!(
        tag(&parent.tags, "otel.trace_id_high").cloned(),
        string(&format!("{trace_high:016x}"))
    );
    assert_eq!(tag(&parent.tags, "int"), Some(&V::IntValue(-5)));
    assert_eq!(tag(&parent.tags, "float"), Some(&V::DoubleValue(0.5)));
    assert_eq!(tag(&parent.tags, "flag"), Some(&V::BoolValue(true)));
    assert_eq!(tag(&parent.tags, "text").cloned(), string("hello"));
    assert_eq!(
        tag(&parent.tags, "list"),
        Some(&V::JsonValue(r#"["a","b\"c"]"#.to_owned()))
    );
    assert_eq!(tag(&parent.tags, "span.kind").cloned(), string("server"));
    assert_eq!(
        tag(&parent.tags, "otel.scope.name").cloned(),
        string("checkout-lib")
    );
    assert_eq!(
        tag(&parent.tags, "otel.scope.version").cloned(),
        string("1.2.3")
    );
    assert_eq!(tag(&parent.tags, "otel.status_code"), None);

    let child = named(&spans, "db.query");
    let (child_trace, _, child_id) = ids(&child_context);
    assert_eq!((trace_id(child), span_id(child)), (child_trace, child_id));
    assert_eq!(child_trace, trace_low);
    assert_eq!(parents(child), vec![(trace_low, parent_id)]);
    assert_eq!(tag(&child.tags, "span.kind"), None); // internal
    assert_eq!(
        tag(&child.tags, "otel.status_code").cloned(),
        string("ERROR")
    );
    assert_eq!(
        tag(&child.tags, "otel.status_description").cloned(),
        string("connection reset")
    );
    assert_eq!(tag(&child.tags, "error"), Some(&V::BoolValue(true)));
    assert_eq!(child.logs.len(), 1);
    let log = &child.logs[0];
    assert_eq!(tag(&log.fields, "event").cloned(), string("retry"));
    assert_eq!(tag(&log.fields, "attempt"), Some(&V::IntValue(2)));

    let linked = named(&spans, "async_job");
    let (linked_trace, _, linked_id) = ids(&linked_context);
    assert_eq!(
        (trace_id(linked), span_id(linked)),
        (linked_trace, linked_id)
    );
    assert_ne!(linked_trace, trace_low);
    let references: Vec<(i32, u64, u64)> = linked
        .references
        .iter()
        .map(|r| {
            let c = r.span_context.as_ref().expect("context");
            (r.relationship, c.trace_id, c.span_id)
        })
        .collect();
    assert_eq!(references, vec![(1, trace_low, parent_id)]); // FOLLOWS_FROM
    assert_eq!(tag(&linked.tags, "span.kind").cloned(), string("consumer"));
    assert_eq!(tag(&linked.tags, "otel.status_code").cloned(), string("OK"));

    let stats = tracer.stats();
    assert_eq!(
        (
            stats.started,
            stats.finished,
            stats.delivered,
            stats.dropped
        ),
        (3, 3, 3, 0)
    );
    provider.shutdown().expect("shutdown");
}

#[test]
fn spans_from_a_batch_processor_arrive_on_force_flush() {
    let (collector, tracer) = tracer();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(OpenTelemetryExporter::new(tracer.clone()))
        .build();
    let otel = provider.tracer("batch");
    let mut expected = Vec::new();
    otel.in_span("root", |cx| {
        expected.push(ids(cx.span().span_context()));
        for i in 0..20_i64 {
            let mut span = otel.start(format!("child-{i}"));
            span.set_attribute(KeyValue::new("i", i));
            expected.push(ids(span.span_context()));
            span.end();
        }
    });
    // The processor exports its batch to the tracer, which sends it on its own schedule
    // (the SDK's force_flush does not reach the exporter): flush the tracer to send now.
    provider.force_flush().expect("force flush");
    tracer.flush(WAIT).expect("flush");
    let spans = collector.spans();
    assert_eq!(spans.len(), 21);
    let root = named(&spans, "root");
    let (root_trace, _, root_id) = expected[0];
    assert_eq!((trace_id(root), span_id(root)), (root_trace, root_id));
    for i in 0..20 {
        let child = named(&spans, &format!("child-{i}"));
        let (trace, _, id) = expected[i + 1];
        assert_eq!((trace_id(child), span_id(child)), (trace, id));
        assert_eq!(parents(child), vec![(root_trace, root_id)]);
        assert_eq!(tag(&child.tags, "i"), Some(&V::IntValue(i as i64)));
    }
    // Shutdown exports what the processor holds and flushes the tracer (no waiting here).
    otel.in_span("last", |_| {});
    provider.shutdown().expect("shutdown");
    assert_eq!(collector.span_count(), 22);
    // The tracer itself stays open (other instrumentation may use it).
    tracer.span("native").start().finish();
    tracer.flush(WAIT).expect("tracer still open");
    assert_eq!(collector.span_count(), 23);
}

#[test]
fn spans_the_tracer_cannot_take_are_counted_dropped() {
    let (collector, tracer) = tracer();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(OpenTelemetryExporter::new(tracer.clone()))
        .build();
    let otel = provider.tracer("closed");
    otel.in_span("delivered", |_| {});
    tracer.close(WAIT).expect("close");
    otel.in_span("after_close", |_| {});
    let stats = tracer.stats();
    assert_eq!(
        (
            stats.finished,
            stats.delivered,
            stats.dropped,
            stats.pending
        ),
        (2, 1, 1, 0)
    );
    assert_eq!(names(&collector.spans()), vec!["delivered"]);
}
