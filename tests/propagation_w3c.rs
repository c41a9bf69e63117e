//! W3C Trace Context to the letter: `tracestate` checked by its grammar (one bad member
//! drops the header), repeated `tracestate` headers read as one list, the level-2
//! `random` flag carried and set on new traces, and a trace id whose low 64 bits are zero
//! kept (LightStep is sent its high 64 bits).

mod common;

use common::*;
use lightstep::{Propagator, SpanContext};
use std::collections::HashMap;

const PARENT: &str = "00-12345678901234567890123456789012-1234567890123456-01";

fn w3c() -> (lightstep::collector::LocalCollector, lightstep::Tracer) {
    tracer_with(|o| o.propagators(&[Propagator::TraceContext]))
}

fn carrier(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn outgoing(tracer: &lightstep::Tracer, context: &SpanContext) -> HashMap<String, String> {
    let child = tracer.span("child").child_of(context).start();
    let mut out = HashMap::new();
    tracer.inject(child.context(), &mut out);
    out
}

#[test]
fn tracestate_that_breaks_the_grammar_is_dropped_whole() {
    let (_collector, tracer) = w3c();
    let key_chars = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
    let value_chars: String = (0x20u8..=0x7e)
        .filter(|&b| b != b',' && b != b'=')
        .map(char::from)
        .collect();
    let all_allowed = format!("{key_chars}@a-z0-9_-*/={value_chars}");
    let cases: Vec<(String, Option<&str>)> = vec![
        ("foo=1,bar=2".into(), Some("foo=1,bar=2")),
        (
            "foo=1 \t , \t bar=2, \t baz=3".into(),
            Some("foo=1,bar=2,baz=3"),
        ),
        ("\t foo=1 \t".into(), Some("foo=1")),
        (",,foo=1,,".into(), Some("foo=1")),
        ("foo@=1,bar=2".into(), Some("foo@=1,bar=2")),
        ("foo@bar@baz=1".into(), Some("foo@bar@baz=1")),
        (format!("{}@{}=1", "t".repeat(241), "v".repeat(14)), None),
        (all_allowed.clone(), None),
        ("foo =1".into(), Some("")),
        ("FOO=1".into(), Some("")),
        ("foo.bar=1".into(), Some("")),
        ("@foo=1,bar=2".into(), Some("")),
        ("foo=bar=baz".into(), Some("")),
        ("foo=,bar=3".into(), Some("")),
        (format!("ok=1,{}=1", "z".repeat(257)), Some("")),
        (format!("ok=1,k={}", "v".repeat(257)), Some("")),
        ("ok=1,k=caf\u{e9}".into(), Some("")),
        ("".into(), Some("")),
    ];
    for (state, expected) in &cases {
        let context = tracer
            .extract(&carrier(&[("traceparent", PARENT), ("tracestate", state)]))
            .unwrap()
            .unwrap();
        // `None` in the table: kept as sent.
        let expected = match expected {
            None => Some(state.as_str()),
            Some("") => None,
            Some(normalised) => Some(*normalised),
        };
        assert_eq!(context.tracestate(), expected, "{state:?}");
        let out = outgoing(&tracer, &context);
        assert_eq!(out.get("tracestate").map(String::as_str), expected);
        // The trace goes on whatever tracestate said.
        assert!(out["traceparent"].starts_with("00-12345678901234567890123456789012-"));
    }
}

/// 32 members across repeated headers are kept; 33 drop the header. Repeated headers
/// only occur in `http::HeaderMap`.
#[cfg(feature = "http")]
#[test]
fn repeated_tracestate_headers_are_one_list_of_at_most_32_members() {
    use http::{HeaderMap, HeaderValue};
    let (_collector, tracer) = w3c();
    let headers = |states: &[String]| {
        let mut map = HeaderMap::new();
        map.insert("traceparent", HeaderValue::from_static(PARENT));
        for state in states {
            map.append("tracestate", HeaderValue::from_str(state).unwrap());
        }
        map
    };
    let members: Vec<String> = (1..=33).map(|i| format!("bar{i:02}={i:02}")).collect();
    let split = |n: usize| -> Vec<String> {
        members[..n]
            .chunks(10)
            .map(|chunk| chunk.join(","))
            .collect()
    };
    let context = tracer.extract(&headers(&split(32))).unwrap().unwrap();
    assert_eq!(context.tracestate(), Some(members[..32].join(",").as_str()));
    let context = tracer.extract(&headers(&split(33))).unwrap().unwrap();
    assert_eq!(context.tracestate(), None);
    let context = tracer
        .extract(&headers(&["foo=1".into(), String::new(), "bar=2".into()]))
        .unwrap()
        .unwrap();
    assert_eq!(context.tracestate(), Some("foo=1,bar=2"));
    // Two traceparent headers: neither is the parent.
    let mut two = headers(&[]);
    two.append(
        "traceparent",
        HeaderValue::from_static("00-12345678901234567890123456789011-1234567890123456-01"),
    );
    let error = tracer.extract(&two).unwrap_err();
    assert!(
        error.to_string().contains("2 traceparent headers"),
        "{error}"
    );
}

#[test]
fn the_random_flag_is_carried_and_set_on_new_traces() {
    let (_collector, tracer) = w3c();
    for (flags, sampled, random) in [
        ("00", false, false),
        ("01", true, false),
        ("02", false, true),
        ("03", true, true),
        ("ff", true, true),
    ] {
        let parent = format!("00-12345678901234567890123456789012-1234567890123456-{flags}");
        let context = tracer
            .extract(&carrier(&[("traceparent", &parent)]))
            .unwrap()
            .unwrap();
        assert_eq!(context.sampled(), sampled, "{flags}");
        let out = outgoing(&tracer, &context);
        let expected = u8::from(sampled) | if random { 2 } else { 0 };
        assert!(
            out["traceparent"].ends_with(&format!("-{expected:02x}")),
            "{flags}: {}",
            out["traceparent"]
        );
    }
    // A trace this crate starts has random ids: the flag says so.
    let root = tracer.span("root").start();
    let mut out = HashMap::new();
    tracer.inject(root.context(), &mut out);
    assert!(
        out["traceparent"].ends_with("-03"),
        "{}",
        out["traceparent"]
    );
    // A context made by hand (bridging another tracer) makes no such claim.
    let mut out = HashMap::new();
    tracer.inject(&SpanContext::new(1, 2), &mut out);
    assert!(
        out["traceparent"].ends_with("-01"),
        "{}",
        out["traceparent"]
    );
}

#[test]
fn a_trace_id_with_zero_low_bits_is_kept_and_lightstep_gets_the_high_bits() {
    let (collector, tracer) = w3c();
    let parent = "00-0af7651916cd43dd0000000000000000-b7ad6b7169203331-01";
    let context = tracer
        .extract(&carrier(&[("traceparent", parent)]))
        .unwrap()
        .expect("a valid W3C trace id");
    assert_eq!(context.trace_id_high(), 0x0af7651916cd43dd);
    assert_eq!(context.trace_id(), 0x0af7651916cd43dd);
    let out = outgoing(&tracer, &context);
    assert!(
        out["traceparent"].starts_with("00-0af7651916cd43dd0000000000000000-"),
        "{}",
        out["traceparent"]
    );
    tracer.span("server").child_of(&context).start().finish();
    tracer.flush(WAIT).unwrap();
    let spans = collector.spans();
    let server = named(&spans, "server");
    assert_eq!(trace_id(server), 0x0af7651916cd43dd);
    assert_eq!(
        parents(server),
        vec![(0x0af7651916cd43dd, 0xb7ad6b7169203331)]
    );
    // All zero is still no trace.
    let zero = "00-00000000000000000000000000000000-b7ad6b7169203331-01";
    assert!(tracer.extract(&carrier(&[("traceparent", zero)])).is_err());
}
