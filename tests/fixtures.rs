//! Wire compatibility with the real LightStep tracers: reports captured from the Python
//! and C++ tracers (`tests/fixtures/`, copied from ../shared/fixtures) decode with our types, and our reports use the same
//! field numbers and wire types.

mod common;

use common::*;
use lightstep::proto::collector::{key_value::Value as V, ReportRequest};
use lightstep::{SpanContext, Value};
use prost::Message;
use std::collections::BTreeSet;
use std::time::{Duration, UNIX_EPOCH};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read the fixture {path}: {e}"))
}

#[test]
fn the_python_report_decodes_with_our_types() {
    let report = ReportRequest::decode(fixture("python-report.bin").as_slice()).expect("decodes");
    assert_eq!(
        report.auth.expect("auth").access_token,
        "interop-test-token"
    );
    let reporter = report.reporter.expect("reporter");
    assert_eq!(reporter.reporter_id, 0xa1b2c3d4e5f60718);
    let tags = &reporter.tags;
    assert_eq!(
        tag(tags, "lightstep.tracer_platform"),
        Some(&V::StringValue("python".into()))
    );
    assert_eq!(
        tag(tags, "lightstep.component_name"),
        Some(&V::StringValue("interop-python".into()))
    );
    assert_eq!(
        tag(tags, "lightstep.hostname"),
        Some(&V::StringValue("interop-host".into()))
    );
    assert_eq!(
        tag(tags, "lightstep.guid"),
        Some(&V::StringValue("a1b2c3d4e5f60718".into()))
    );
    assert!(
        report.internal_metrics.is_none(),
        "the Python tracer sends no metrics"
    );

    let spans = &report.spans;
    assert_eq!(names(spans), vec!["child", "parent"], "finish order");
    let (child, parent) = (named(spans, "child"), named(spans, "parent"));
    assert_eq!(
        trace_id(parent),
        0xf1e2d3c4b5a69788,
        "ids above i64::MAX survive"
    );
    assert_eq!(span_id(parent), 0x0123456789abcdef);
    assert_eq!(span_id(child), 0xff);
    // Python fills only the span id of a reference.
    assert_eq!(parents(child), vec![(0, 0x0123456789abcdef)]);
    let start = parent.start_timestamp.expect("start");
    assert_eq!((start.seconds, start.nanos), (1_700_000_000, 250_000_000));
    assert_eq!(
        (parent.duration_micros, child.duration_micros),
        (750_000, 250_000)
    );
    assert_eq!(
        tag(&parent.tags, "int.tag"),
        Some(&V::StringValue("42".into())),
        "Python stringifies"
    );
    assert_eq!(
        tag(&parent.tags, "bool.tag"),
        Some(&V::StringValue("True".into()))
    );
    assert_eq!(parent.logs.len(), 1);
    assert_eq!(
        tag(&parent.logs[0].fields, "key"),
        Some(&V::StringValue("user:42".into()))
    );
    let log_at = parent.logs[0].timestamp.expect("log time");
    assert_eq!((log_at.seconds, log_at.nanos), (1_700_000_000, 312_500_000));
}

#[test]
fn the_cpp_report_decodes_despite_its_field_order() {
    let report = ReportRequest::decode(fixture("cpp-report.bin").as_slice()).expect("decodes");
    let reporter = report.reporter.expect("reporter");
    assert_eq!(
        tag(&reporter.tags, "lightstep.tracer_platform_version"),
        Some(&V::IntValue(201103))
    );
    let metrics = report.internal_metrics.expect("metrics");
    assert_eq!(metrics.counts[0].name, "spans.dropped");
    let spans = &report.spans;
    let (child, parent) = (named(spans, "child"), named(spans, "parent"));
    assert_eq!(parents(child), vec![(trace_id(parent), span_id(parent))]);
    assert_eq!(tag(&parent.tags, "int.tag"), Some(&V::IntValue(42)));
    assert_eq!(tag(&parent.tags, "negative.tag"), Some(&V::IntValue(-7)));
    assert_eq!(tag(&parent.tags, "float.tag"), Some(&V::DoubleValue(0.5)));
    assert_eq!(tag(&parent.tags, "bool.tag"), Some(&V::BoolValue(true)));
    let baggage = &child.span_context.as_ref().expect("context").baggage;
    assert_eq!(baggage.get("user.id").map(String::as_str), Some("alice"));
}

/// Every (message path, field number, wire type) in a protobuf message, walking into the
/// sub-messages named in `nested` (path → field numbers that hold messages).
fn shape(bytes: &[u8], path: &str, out: &mut BTreeSet<(String, u64, u8)>) {
    let nested: &[(&str, &[u64])] = &[
        ("ReportRequest", &[1, 2, 3, 6]),
        ("ReportRequest.1", &[4]),
        ("ReportRequest.3", &[1, 3, 4, 6, 7]),
        ("ReportRequest.3.3", &[2]),
        ("ReportRequest.3.7", &[1, 2]),
        ("ReportRequest.6", &[1, 3, 4, 5]),
    ];
    let mut rest = bytes;
    while !rest.is_empty() {
        let key = varint(&mut rest);
        let (field, wire) = (key >> 3, (key & 7) as u8);
        out.insert((path.to_owned(), field, wire));
        match wire {
            0 => {
                varint(&mut rest);
            }
            1 => rest = &rest[8..],
            5 => rest = &rest[4..],
            2 => {
                let len = varint(&mut rest) as usize;
                let (body, tail) = rest.split_at(len);
                let walk = nested
                    .iter()
                    .any(|(p, fields)| *p == path && fields.contains(&field));
                if walk {
                    shape(body, &format!("{path}.{field}"), out);
                }
                rest = tail;
            }
            other => panic!("wire type {other} at {path}.{field}"),
        }
    }
}

fn varint(bytes: &mut &[u8]) -> u64 {
    let mut value = 0;
    for shift in (0..64).step_by(7) {
        let byte = bytes[0];
        *bytes = &bytes[1..];
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
    }
    value
}

#[test]
fn our_report_of_the_fixture_trace_matches_the_real_tracers_on_the_wire() {
    let (collector, tracer) = tracer_with(|o| o.tag("lightstep.hostname", "interop-host"));
    let t0 = UNIX_EPOCH + Duration::new(1_700_000_000, 250_000_000);
    let ms = Duration::from_millis;
    let mut parent = tracer
        .span("parent")
        .child_of(&SpanContext::new(0xf1e2d3c4b5a69788, 0x1).with_sampled(true))
        .start_time(t0)
        .start();
    parent.set_tag("string.tag", "hello");
    parent.set_tag("int.tag", 42);
    parent.set_tag("negative.tag", -7);
    parent.set_tag("float.tag", 0.5);
    parent.set_tag("bool.tag", true);
    parent.log([
        ("event", Value::from("cache_miss")),
        ("key", Value::from("user:42")),
        ("attempt", Value::from("3")),
    ]);
    let mut child = tracer
        .span("child")
        .child_of(parent.context())
        .start_time(t0 + ms(125))
        .start();
    child.set_baggage_item("user.id", "alice");
    child.log_event("baggage_set");
    child.finish_at(t0 + ms(375));
    parent.finish_at(t0 + ms(750));
    tracer.flush(WAIT).expect("flush");

    let ours = &collector.reports()[0];
    let report = &ours.request;
    let (child, parent) = (
        named(&report.spans, "child"),
        named(&report.spans, "parent"),
    );
    assert_eq!(
        names(&report.spans),
        vec!["child", "parent"],
        "finish order, as both tracers"
    );
    assert_eq!(trace_id(parent), 0xf1e2d3c4b5a69788);
    assert_eq!(
        parents(child),
        vec![(trace_id(parent), span_id(parent))],
        "C++ fills both ids"
    );
    let start = parent.start_timestamp.expect("start");
    assert_eq!((start.seconds, start.nanos), (1_700_000_000, 250_000_000));
    assert_eq!(
        (parent.duration_micros, child.duration_micros),
        (750_000, 250_000)
    );
    assert_eq!(
        tag(&parent.tags, "int.tag"),
        Some(&V::IntValue(42)),
        "typed, as C++"
    );
    assert_eq!(tag(&parent.tags, "float.tag"), Some(&V::DoubleValue(0.5)));
    assert_eq!(tag(&parent.tags, "bool.tag"), Some(&V::BoolValue(true)));
    let baggage = &child.span_context.as_ref().expect("context").baggage;
    assert_eq!(
        baggage.get("user.id").map(String::as_str),
        Some("alice"),
        "baggage in the span, as C++"
    );

    let mut our_shape = BTreeSet::new();
    shape(&ours.body, "ReportRequest", &mut our_shape);
    for name in ["python-report.bin", "cpp-report.bin"] {
        let mut their_shape = BTreeSet::new();
        shape(&fixture(name), "ReportRequest", &mut their_shape);
        // Where both write a field, it has the same number and wire type; and every field
        // the real tracer writes for this trace, we write too (except their own extras).
        // The C++ tracer writes CHILD_OF (0) explicitly; proto3 leaves a default out.
        let extras: &[(&str, u64)] = &[("ReportRequest.3.3", 1)];
        for entry in &their_shape {
            if extras.iter().any(|(p, f)| *p == entry.0 && *f == entry.1) {
                continue;
            }
            let same_field = our_shape.iter().find(|o| o.0 == entry.0 && o.1 == entry.1);
            match same_field {
                Some(ours) => assert_eq!(
                    ours.2, entry.2,
                    "{name}: wire type of {}.{}",
                    entry.0, entry.1
                ),
                None => {
                    // Python sends tag values as strings (field 2) where we send typed
                    // values; a KeyValue's value fields are the only allowed difference.
                    let is_value_field = entry.0.ends_with(".6") || entry.0.ends_with(".4");
                    assert!(
                        is_value_field,
                        "{name} writes {}.{} and we do not",
                        entry.0, entry.1
                    );
                }
            }
        }
    }
    for expected in [
        ("ReportRequest", 1, 2),
        ("ReportRequest", 2, 2),
        ("ReportRequest", 3, 2),
        ("ReportRequest", 6, 2),
        ("ReportRequest.3", 1, 2),
        ("ReportRequest.3", 2, 2),
        ("ReportRequest.3", 3, 2),
        ("ReportRequest.3", 4, 2),
        ("ReportRequest.3", 5, 0),
        ("ReportRequest.3", 6, 2),
        ("ReportRequest.3", 7, 2),
        ("ReportRequest.3.6", 3, 0),
        ("ReportRequest.3.6", 4, 1),
        ("ReportRequest.3.6", 5, 0),
        ("ReportRequest.1", 1, 0),
        ("ReportRequest.1", 4, 2),
    ] {
        assert!(
            our_shape.contains(&(expected.0.to_owned(), expected.1, expected.2)),
            "we do not write {expected:?}"
        );
    }
}
