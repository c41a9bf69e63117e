//! Corrupt and hostile carriers: each gives the documented `Ok(None)` or a clear
//! `Err(SpanContextCorrupted)` naming the format and the key, and random input fed to
//! every extractor never panics.

use lightstep::collector::LocalCollector;
use lightstep::{Error, Options, Propagator, SpanContext, Tracer};
use std::collections::HashMap;

fn tracer(collector: &LocalCollector, propagators: &[Propagator]) -> Tracer {
    Tracer::new(
        Options::new("t")
            .collector_url(collector.url())
            .propagators(propagators),
    )
    .expect("tracer starts")
}

fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

const LS: &[Propagator] = &[Propagator::LightStep];
const B3: &[Propagator] = &[Propagator::B3];
const W3C: &[Propagator] = &[Propagator::TraceContext];
const LS_B3: &[Propagator] = &[Propagator::LightStep, Propagator::B3];

const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// What a carrier must give.
#[derive(Debug)]
enum Outcome {
    /// `Ok(None)`.
    None,
    /// `Ok(Some(_))` with these (low) trace and span ids.
    Found(u64, u64),
    /// `Err(SpanContextCorrupted)` of this format at this key, the reason containing this.
    Corrupt(&'static str, &'static str, &'static str),
}

fn check(what: &str, result: Result<Option<SpanContext>, Error>, expected: &Outcome) {
    match (expected, &result) {
        (Outcome::None, Ok(None)) => {}
        (Outcome::Found(trace, span), Ok(Some(context)))
            if (context.trace_id(), context.span_id()) == (*trace, *span) => {}
        (
            Outcome::Corrupt(format, key, reason),
            Err(
                error @ Error::SpanContextCorrupted {
                    format: f,
                    key: k,
                    reason: r,
                },
            ),
        ) if f == format && k == key && r.contains(reason) => {
            let message = error.to_string();
            assert!(
                message.contains(format) && message.contains(key) && message.contains(reason),
                "{what}: the message names the format, key and reason: {message}"
            );
        }
        _ => panic!("{what}: expected {expected:?}, got {result:?}"),
    }
}

#[test]
fn corrupt_text_carriers_give_the_documented_verdicts() {
    use Outcome::{Corrupt, Found, None};
    let collector = LocalCollector::start().unwrap();
    let tracers: HashMap<&str, Tracer> = [("ls", LS), ("b3", B3), ("w3c", W3C), ("ls+b3", LS_B3)]
        .into_iter()
        .map(|(name, stack)| (name, tracer(&collector, stack)))
        .collect();
    let many_items: Vec<(String, String)> = (0..1025)
        .map(|i| (format!("ot-baggage-k{i}"), "v".to_owned()))
        .collect();
    let at_item_limit: Vec<(String, String)> = many_items[..1024].to_vec();
    let big = "x".repeat(64 * 1024);
    let long_state = "k=".to_owned() + &"v".repeat(9000);
    let ids = [
        ("ot-tracer-traceid", "ab"),
        ("ot-tracer-spanid", "cd"),
        ("ot-tracer-sampled", "true"),
    ];
    let with_ids = |extra: Vec<(String, String)>| -> HashMap<String, String> {
        let mut carrier = map(&ids);
        carrier.extend(extra);
        carrier
    };

    let cases: Vec<(&str, &str, HashMap<String, String>, Outcome)> = vec![
        // LightStep.
        ("empty carrier", "ls", map(&[]), None),
        (
            "unrelated keys",
            "ls",
            map(&[("content-type", "text/plain"), ("x-b3-sampled", "1")]),
            None,
        ),
        (
            "missing trace id",
            "ls",
            map(&[("ot-tracer-spanid", "2"), ("ot-tracer-sampled", "true")]),
            Corrupt("lightstep", "ot-tracer-traceid", "missing"),
        ),
        (
            "missing span id",
            "ls",
            map(&[("ot-tracer-traceid", "1"), ("ot-tracer-sampled", "true")]),
            Corrupt("lightstep", "ot-tracer-spanid", "missing"),
        ),
        (
            "missing sampled",
            "ls",
            map(&[("ot-tracer-traceid", "1"), ("ot-tracer-spanid", "2")]),
            Corrupt("lightstep", "ot-tracer-sampled", "missing"),
        ),
        (
            "bad hex",
            "ls",
            map(&[
                ("ot-tracer-traceid", "xyz"),
                ("ot-tracer-spanid", "2"),
                ("ot-tracer-sampled", "true"),
            ]),
            Corrupt("lightstep", "ot-tracer-traceid", "not a hexadecimal id"),
        ),
        (
            "overlong trace id",
            "ls",
            map(&[
                ("ot-tracer-traceid", "10000000000000000"),
                ("ot-tracer-spanid", "2"),
                ("ot-tracer-sampled", "true"),
            ]),
            Corrupt("lightstep", "ot-tracer-traceid", "too long"),
        ),
        (
            "128-bit trace id",
            "ls",
            map(&[
                ("ot-tracer-traceid", "0af7651916cd43dd8448eb211c80319c"),
                ("ot-tracer-spanid", "2"),
                ("ot-tracer-sampled", "true"),
            ]),
            Corrupt("lightstep", "ot-tracer-traceid", "too long"),
        ),
        (
            "zero trace id",
            "ls",
            map(&[
                ("ot-tracer-traceid", "0"),
                ("ot-tracer-spanid", "2"),
                ("ot-tracer-sampled", "true"),
            ]),
            Corrupt("lightstep", "ot-tracer-traceid", "zero"),
        ),
        (
            "zero span id",
            "ls",
            map(&[
                ("ot-tracer-traceid", "1"),
                ("ot-tracer-spanid", "0000"),
                ("ot-tracer-sampled", "true"),
            ]),
            Corrupt("lightstep", "ot-tracer-spanid", "zero"),
        ),
        (
            "0x prefix",
            "ls",
            map(&[
                ("ot-tracer-traceid", "0x1f"),
                ("ot-tracer-spanid", "2"),
                ("ot-tracer-sampled", "true"),
            ]),
            Corrupt("lightstep", "ot-tracer-traceid", "hexadecimal"),
        ),
        (
            "negative id",
            "ls",
            map(&[
                ("ot-tracer-traceid", "1"),
                ("ot-tracer-spanid", "-1"),
                ("ot-tracer-sampled", "true"),
            ]),
            Corrupt("lightstep", "ot-tracer-spanid", "hexadecimal"),
        ),
        (
            "padded with spaces",
            "ls",
            map(&[
                ("ot-tracer-traceid", " ff "),
                ("ot-tracer-spanid", "2"),
                ("ot-tracer-sampled", "true"),
            ]),
            Corrupt("lightstep", "ot-tracer-traceid", "hexadecimal"),
        ),
        (
            "full-width digits",
            "ls",
            map(&[
                ("ot-tracer-traceid", "ｆｆ"),
                ("ot-tracer-spanid", "2"),
                ("ot-tracer-sampled", "true"),
            ]),
            Corrupt("lightstep", "ot-tracer-traceid", "hexadecimal"),
        ),
        (
            "bad sampled",
            "ls",
            map(&[
                ("ot-tracer-traceid", "1"),
                ("ot-tracer-spanid", "2"),
                ("ot-tracer-sampled", "yes"),
            ]),
            Corrupt(
                "lightstep",
                "ot-tracer-sampled",
                "expected true, false, 1 or 0",
            ),
        ),
        (
            "baggage without ids",
            "ls",
            map(&[("ot-baggage-user", "alice")]),
            Corrupt("lightstep", "ot-baggage-*", "baggage without"),
        ),
        (
            "too many baggage items",
            "ls",
            with_ids(many_items.clone()),
            Found(0xab, 0xcd), // the baggage past the limit is dropped
        ),
        (
            "too much baggage",
            "ls",
            with_ids(vec![("ot-baggage-big".into(), big.clone())]),
            Found(0xab, 0xcd),
        ),
        (
            "baggage at the item limit",
            "ls",
            with_ids(at_item_limit),
            Found(0xab, 0xcd),
        ),
        (
            "baggage at the byte limit",
            "ls",
            with_ids(vec![(
                "ot-baggage-b".into(),
                big[..64 * 1024 - 1].to_owned(),
            )]),
            Found(0xab, 0xcd),
        ),
        // B3.
        (
            "b3: trace id alone",
            "b3",
            map(&[("x-b3-traceid", "0af7651916cd43dd")]),
            Corrupt("b3", "x-b3-spanid", "missing"),
        ),
        (
            "b3: span id alone",
            "b3",
            map(&[("x-b3-spanid", "b7ad6b7169203331")]),
            Corrupt("b3", "x-b3-traceid", "missing"),
        ),
        (
            "b3: sampling decision alone",
            "b3",
            map(&[("x-b3-sampled", "1")]),
            None,
        ),
        (
            "b3: 33-digit trace id",
            "b3",
            map(&[
                ("x-b3-traceid", "10af7651916cd43dd8448eb211c80319c"),
                ("x-b3-spanid", "1"),
            ]),
            Corrupt("b3", "x-b3-traceid", "too long"),
        ),
        (
            "b3: zero trace id",
            "b3",
            map(&[
                ("x-b3-traceid", "00000000000000000000000000000000"),
                ("x-b3-spanid", "1"),
            ]),
            Corrupt("b3", "x-b3-traceid", "zero"),
        ),
        (
            "b3: zero low half",
            "b3",
            map(&[
                ("x-b3-traceid", "00000000000000010000000000000000"),
                ("x-b3-spanid", "1"),
            ]),
            Found(1, 1), // kept; LightStep is sent the high half
        ),
        (
            "b3: 17-digit span id",
            "b3",
            map(&[("x-b3-traceid", "1"), ("x-b3-spanid", "10000000000000000")]),
            Corrupt("b3", "x-b3-spanid", "too long"),
        ),
        (
            "b3: bad sampled",
            "b3",
            map(&[
                ("x-b3-traceid", "1"),
                ("x-b3-spanid", "1"),
                ("x-b3-sampled", "2"),
            ]),
            Corrupt("b3", "x-b3-sampled", "expected 1, 0"),
        ),
        (
            "b3: bad flags",
            "b3",
            map(&[
                ("x-b3-traceid", "1"),
                ("x-b3-spanid", "1"),
                ("x-b3-flags", "x"),
            ]),
            Corrupt("b3", "x-b3-flags", "expected 1 or 0"),
        ),
        ("b3 single: lone decision", "b3", map(&[("b3", "0")]), None),
        (
            "b3 single: garbage",
            "b3",
            map(&[("b3", "garbage")]),
            Corrupt("b3", "b3", "expected traceid-spanid"),
        ),
        (
            "b3 single: 15-digit trace id",
            "b3",
            map(&[("b3", "af7651916cd43dd-b7ad6b7169203331")]),
            Corrupt("b3", "b3", "16 or 32 hex digits"),
        ),
        (
            "b3 single: five fields",
            "b3",
            map(&[(
                "b3",
                "0af7651916cd43dd-b7ad6b7169203331-1-b7ad6b7169203331-1",
            )]),
            Corrupt("b3", "b3", "more than four fields"),
        ),
        (
            "b3 single: bad sampling state",
            "b3",
            map(&[("b3", "0af7651916cd43dd-b7ad6b7169203331-x")]),
            Corrupt("b3", "b3", "sampling state"),
        ),
        (
            "b3 single: bad parent",
            "b3",
            map(&[("b3", "0af7651916cd43dd-b7ad6b7169203331-1-zz")]),
            Corrupt("b3", "b3", "16 hex digits"),
        ),
        // W3C Trace Context.
        (
            "w3c: version ff",
            "w3c",
            map(&[(
                "traceparent",
                "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            )]),
            Corrupt("tracecontext", "traceparent", "version ff"),
        ),
        (
            "w3c: version 00 with five fields",
            "w3c",
            map(&[("traceparent", &format!("{TRACEPARENT}-00"))]),
            Corrupt("tracecontext", "traceparent", "exactly four fields"),
        ),
        (
            "w3c: one-digit version",
            "w3c",
            map(&[(
                "traceparent",
                "0-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            )]),
            Corrupt("tracecontext", "traceparent", "version must be 2"),
        ),
        (
            "w3c: upper-case hex",
            "w3c",
            map(&[(
                "traceparent",
                "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            )]),
            Corrupt("tracecontext", "traceparent", "lower-case"),
        ),
        (
            "w3c: short trace id",
            "w3c",
            map(&[(
                "traceparent",
                "00-af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            )]),
            Corrupt("tracecontext", "traceparent", "trace id must be 32"),
        ),
        (
            "w3c: long parent id",
            "w3c",
            map(&[(
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b71692033310-01",
            )]),
            Corrupt("tracecontext", "traceparent", "parent id must be 16"),
        ),
        (
            "w3c: zero trace id",
            "w3c",
            map(&[(
                "traceparent",
                "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            )]),
            Corrupt("tracecontext", "traceparent", "trace id is zero"),
        ),
        (
            "w3c: zero parent id",
            "w3c",
            map(&[(
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            )]),
            Corrupt("tracecontext", "traceparent", "parent id is zero"),
        ),
        (
            "w3c: one-digit flags",
            "w3c",
            map(&[(
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1",
            )]),
            Corrupt("tracecontext", "traceparent", "flags must be 2"),
        ),
        (
            "w3c: non-hex flags",
            "w3c",
            map(&[(
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0x",
            )]),
            Corrupt("tracecontext", "traceparent", "flags"),
        ),
        (
            "w3c: empty",
            "w3c",
            map(&[("traceparent", "")]),
            Corrupt(
                "tracecontext",
                "traceparent",
                "expected version-traceid-parentid-flags",
            ),
        ),
        (
            "w3c: huge value",
            "w3c",
            map(&[("traceparent", &"-".repeat(1 << 20))]),
            Corrupt("tracecontext", "traceparent", "version must be 2"),
        ),
        (
            "w3c: a later version may have more fields",
            "w3c",
            map(&[(
                "traceparent",
                "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-ever",
            )]),
            Found(0x8448eb211c80319c, 0xb7ad6b7169203331),
        ),
        (
            "w3c: tracestate alone",
            "w3c",
            map(&[("tracestate", "a=b")]),
            None,
        ),
        (
            "w3c: huge baggage",
            "w3c",
            map(&[("traceparent", TRACEPARENT), ("ot-baggage-big", &big)]),
            Found(0x8448eb211c80319c, 0xb7ad6b7169203331),
        ),
        (
            "w3c: over-long tracestate is dropped",
            "w3c",
            map(&[("traceparent", TRACEPARENT), ("tracestate", &long_state)]),
            Found(0x8448eb211c80319c, 0xb7ad6b7169203331),
        ),
        // A stack.
        (
            "stack: B3 carrier with baggage",
            "ls+b3",
            map(&[
                ("x-b3-traceid", "1"),
                ("x-b3-spanid", "2"),
                ("ot-baggage-user", "alice"),
            ]),
            Found(1, 2),
        ),
        (
            "stack: corrupt LightStep, good B3",
            "ls+b3",
            map(&[
                ("ot-tracer-traceid", "zz"),
                ("x-b3-traceid", "1"),
                ("x-b3-spanid", "2"),
            ]),
            Found(1, 2),
        ),
        (
            "stack: both corrupt, the first error",
            "ls+b3",
            map(&[("ot-tracer-traceid", "zz"), ("x-b3-traceid", "1")]),
            Corrupt("lightstep", "ot-tracer-spanid", "missing"),
        ),
    ];
    for (what, stack, carrier, expected) in &cases {
        check(what, tracers[stack].extract(carrier), expected);
    }

    // The dropped tracestate is really gone; a good one is kept.
    let w3c = &tracers["w3c"];
    for (state, kept) in [
        (long_state.as_str(), false),
        ("vendor=ünïcode", false),
        ("vendor=a\u{1}b", false),
        ("vendor=abc,other=1", true),
    ] {
        let carrier = map(&[("traceparent", TRACEPARENT), ("tracestate", state)]);
        let context = w3c.extract(&carrier).unwrap().unwrap();
        assert_eq!(context.tracestate().is_some(), kept, "{state:?}");
    }
}

#[test]
fn corrupt_binary_carriers_give_the_documented_verdicts() {
    use Outcome::{Corrupt, Found, None};
    let collector = LocalCollector::start().unwrap();
    let tracer = tracer(&collector, LS);
    let good = SpanContext::new(0xf1e2d3c4b5a69788, 0xff).with_baggage_item("user.id", "alice");
    let text = tracer.inject_binary(&good);
    // The raw protobuf (as the C++ tracer writes it), from the fixture's layout.
    let raw: Vec<u8> = {
        let mut basic = vec![0x09];
        basic.extend_from_slice(&0xf1e2d3c4b5a69788u64.to_le_bytes());
        basic.push(0x11);
        basic.extend_from_slice(&0xffu64.to_le_bytes());
        basic.extend_from_slice(&[0x18, 0x01]);
        let mut carrier = vec![0x12, basic.len() as u8];
        carrier.extend_from_slice(&basic);
        carrier
    };
    let prefixed = |message: &[u8]| {
        let mut out = (message.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(message);
        out
    };
    let mut bad_utf8 = vec![0x12, 0x1c, 0x09];
    bad_utf8.extend_from_slice(&1u64.to_le_bytes());
    bad_utf8.push(0x11);
    bad_utf8.extend_from_slice(&2u64.to_le_bytes());
    bad_utf8.extend_from_slice(&[0x22, 0x08, 0x0a, 0x02, b'k', 0xff, 0x12, 0x02, b'v', b'v']);
    let mut huge = vec![0x12];
    {
        let value = vec![b'x'; 70_000];
        let mut entry = vec![0x0a, 0x01, b'k', 0x12];
        varint(&mut entry, value.len());
        entry.extend_from_slice(&value);
        let mut basic = raw[2..].to_vec();
        basic.push(0x22);
        varint(&mut basic, entry.len());
        basic.extend_from_slice(&entry);
        varint(&mut huge, basic.len());
        huge.extend_from_slice(&basic);
    }

    let cases: Vec<(&str, Vec<u8>, Outcome)> = vec![
        ("empty", vec![], None),
        ("whitespace", b" \r\n\t ".to_vec(), None),
        ("our text", text.clone(), Found(0xf1e2d3c4b5a69788, 0xff)),
        (
            "our text with a newline",
            [&text[..], b"\n"].concat(),
            Found(0xf1e2d3c4b5a69788, 0xff),
        ),
        ("raw protobuf", raw.clone(), Found(0xf1e2d3c4b5a69788, 0xff)),
        (
            "not base64",
            b"***not base64***".to_vec(),
            Corrupt("lightstep binary", "base64", "not base64"),
        ),
        (
            "bad padding",
            b"Zg=".to_vec(),
            Corrupt("lightstep binary", "base64", "padding"),
        ),
        (
            "base64 of a truncated protobuf",
            b"EhIJAQAAAAAAAAARqwAA".to_vec(),
            Corrupt("lightstep binary", "protobuf", ""),
        ),
        (
            "base64 cut short",
            text[..text.len() - 3].to_vec(),
            Corrupt("lightstep binary", "base64", "length"),
        ),
        (
            "raw protobuf cut short",
            raw[..raw.len() / 2].to_vec(),
            Corrupt("lightstep binary", "protobuf", ""),
        ),
        (
            "no basic_ctx",
            vec![0x0a, 0x00],
            Corrupt("lightstep binary", "basic_ctx", "missing"),
        ),
        (
            "zero ids",
            vec![0x12, 0x00],
            Corrupt("lightstep binary", "trace_id", "zero"),
        ),
        (
            "zero span id",
            vec![0x12, 0x09, 0x09, 1, 0, 0, 0, 0, 0, 0, 0],
            Corrupt("lightstep binary", "span_id", "zero"),
        ),
        (
            "not UTF-8 baggage",
            bad_utf8,
            Corrupt("lightstep binary", "protobuf", ""),
        ),
        (
            "huge baggage",
            huge,
            Found(0xf1e2d3c4b5a69788, 0xff), // the item past the limit is dropped
        ),
        (
            "a huge length in a field",
            vec![0x12, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x09],
            Corrupt("lightstep binary", "protobuf", ""),
        ),
        (
            "Python's binary",
            prefixed(&raw[2..]),
            Found(0xf1e2d3c4b5a69788, 0xff),
        ),
        ("Python's binary, empty state", prefixed(&[]), None),
        (
            "length prefix cut short",
            vec![0, 0, 0],
            Corrupt("lightstep binary", "length", "cut short"),
        ),
        (
            "length prefix too long",
            [&[0, 0, 1, 0][..], &raw[2..]].concat(),
            Corrupt(
                "lightstep binary",
                "length",
                "the length prefix says 256 bytes",
            ),
        ),
        (
            "length prefix, garbage",
            vec![0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff],
            Corrupt("lightstep binary", "protobuf", ""),
        ),
    ];
    for (what, carrier, expected) in &cases {
        check(what, tracer.extract_binary(carrier), expected);
    }
}

fn varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

#[cfg(feature = "http")]
#[test]
fn header_values_that_are_not_text_are_reported() {
    use http::{HeaderMap, HeaderName, HeaderValue};
    use Outcome::{Corrupt, Found};
    let collector = LocalCollector::start().unwrap();
    let headers = |pairs: &[(&str, &[u8])]| {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_bytes(v).unwrap(),
            );
        }
        map
    };
    let cases: Vec<(&[Propagator], HeaderMap, Outcome)> = vec![
        (
            W3C,
            headers(&[("traceparent", b"00-\xff\xfe")]),
            Corrupt("tracecontext", "traceparent", "not UTF-8"),
        ),
        (
            LS,
            headers(&[
                ("ot-tracer-traceid", b"\xe9"),
                ("ot-tracer-spanid", b"2"),
                ("ot-tracer-sampled", b"1"),
            ]),
            Corrupt("lightstep", "ot-tracer-traceid", "not UTF-8"),
        ),
        (
            B3,
            headers(&[("b3", b"\x80")]),
            Corrupt("b3", "b3", "not UTF-8"),
        ),
        // Baggage that is not UTF-8 is read as ISO-8859-1, as HTTP/1.1 reads headers.
        (
            LS,
            headers(&[
                ("ot-tracer-traceid", b"1"),
                ("ot-tracer-spanid", b"2"),
                ("ot-tracer-sampled", b"1"),
                ("ot-baggage-bad", b"\xff"),
                ("ot-baggage-good", b"\xc3\xa9"),
                ("ot-baggage-latin", b"caf\xe9 cr\xe8me"),
            ]),
            Found(1, 2),
        ),
    ];
    for (i, (stack, carrier, expected)) in cases.iter().enumerate() {
        let tracer = tracer(&collector, stack);
        let result = tracer.extract(carrier);
        if let Ok(Some(context)) = &result {
            assert_eq!(context.baggage_item("bad"), Some("ÿ"));
            assert_eq!(context.baggage_item("good"), Some("é"));
            assert_eq!(context.baggage_item("latin"), Some("café crème"));
        }
        check(&format!("header case {i}"), result, expected);
    }
}

// ---------------------------------------------------------------------------------------
// Random input.

/// xorshift64*: a small deterministic generator, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// `input` with a few random bytes changed, inserted, deleted or cut off.
    fn mutate(&mut self, input: &[u8]) -> Vec<u8> {
        let mut out = input.to_vec();
        for _ in 0..1 + self.below(3) {
            let at = self.below(out.len() + 1);
            match self.below(5) {
                0 if at < out.len() => out[at] = self.next() as u8,
                1 => out.insert(at, self.next() as u8),
                2 if at < out.len() => {
                    out.remove(at);
                }
                3 => out.truncate(at),
                _ => {
                    // A byte that matters to the formats.
                    const SPECIAL: &[u8] = b"-0fF=+/ \x00\x12\x0a\xff";
                    out.insert(at, SPECIAL[self.below(SPECIAL.len())]);
                }
            }
        }
        out
    }
}

/// The verdict must be one of the documented ones.
fn sane(result: &Result<Option<SpanContext>, Error>, input: &dyn std::fmt::Debug) {
    match result {
        Ok(None) => {}
        Ok(Some(context)) => assert!(
            context.trace_id() != 0 && context.span_id() != 0,
            "a context with a zero id from {input:?}"
        ),
        Err(Error::SpanContextCorrupted {
            format,
            key,
            reason,
        }) => assert!(
            ["lightstep", "b3", "tracecontext", "lightstep binary"].contains(format)
                && !key.is_empty()
                && !reason.is_empty(),
            "an unclear error from {input:?}: {result:?}"
        ),
        Err(other) => panic!("an unexpected error from {input:?}: {other:?}"),
    }
}

const FUZZ_CASES: usize = 120_000;

#[test]
fn random_input_never_panics_any_extractor() {
    let collector = LocalCollector::start().unwrap();
    let stacks = [
        tracer(&collector, LS),
        tracer(&collector, B3),
        tracer(&collector, W3C),
        tracer(
            &collector,
            &[
                Propagator::TraceContext,
                Propagator::B3,
                Propagator::LightStep,
            ],
        ),
    ];
    let all = &stacks[3];
    let seed = 0x9e37_79b9_7f4a_7c15;
    let mut rng = Rng(seed);

    // Valid carriers to start from.
    let context = SpanContext::new(0xf1e2d3c4b5a69788, 0x0123456789abcdef)
        .with_trace_id_high(0x0af7651916cd43dd)
        .with_baggage_item("user.id", "alice");
    let mut valid = HashMap::new();
    all.inject(&context, &mut valid);
    valid.insert(
        "b3".into(),
        "0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1-0123456789abcdef".into(),
    );
    valid.insert("tracestate".into(), "vendor=opaque".into());
    let keys: Vec<String> = valid.keys().cloned().collect();
    let binary = all.inject_binary(&context);
    let raw = {
        // Raw `BinaryCarrier` bytes: the base64 decoded.
        let text = String::from_utf8(binary.clone()).unwrap();
        let mut out = Vec::new();
        let (mut acc, mut bits) = (0u32, 0);
        for byte in text.bytes().filter(|&b| b != b'=') {
            const ALPHABET: &[u8] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            acc = (acc << 6) | ALPHABET.iter().position(|&a| a == byte).unwrap() as u32;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
            }
        }
        out
    };
    let mut prefixed = (raw.len() as u32 - 2).to_be_bytes().to_vec();
    prefixed.extend_from_slice(&raw[2..]);

    let started = std::time::Instant::now();
    let mut extractions = 0usize;
    let (mut found, mut corrupt) = (0usize, 0usize);
    let mut tally = |result: &Result<Option<SpanContext>, Error>| match result {
        Ok(Some(_)) => found += 1,
        Err(_) => corrupt += 1,
        Ok(None) => {}
    };
    for case in 0..FUZZ_CASES {
        // Binary: pure noise, or a mutated valid carrier of each form.
        let bytes = match case % 4 {
            0 => rng.bytes(48),
            1 => rng.mutate(&binary),
            2 => rng.mutate(&raw),
            _ => rng.mutate(&prefixed),
        };
        let result = all.extract_binary(&bytes);
        sane(&result, &bytes);
        tally(&result);
        extractions += 1;

        // Text: a valid carrier with some values mutated, replaced by noise, or removed.
        let mut carrier = valid.clone();
        for _ in 0..1 + rng.below(2) {
            let key = &keys[rng.below(keys.len())];
            match rng.below(5) {
                0 => {
                    carrier.remove(key);
                }
                4 => {
                    // A stray key, perhaps baggage, perhaps a differently-cased twin.
                    let noise = String::from_utf8_lossy(&rng.bytes(12)).into_owned();
                    let stray = match rng.below(3) {
                        0 => format!("ot-baggage-{noise}"),
                        1 => key.to_ascii_uppercase(),
                        _ => noise.clone(),
                    };
                    carrier.insert(stray, noise);
                }
                1 => {
                    let noise = rng.bytes(40);
                    carrier.insert(key.clone(), String::from_utf8_lossy(&noise).into_owned());
                }
                _ => {
                    let value = carrier.get(key).cloned().unwrap_or_default();
                    let mutated = rng.mutate(value.as_bytes());
                    carrier.insert(key.clone(), String::from_utf8_lossy(&mutated).into_owned());
                }
            }
        }
        let tracer = &stacks[case % stacks.len()];
        let result = tracer.extract(&carrier);
        sane(&result, &carrier);
        tally(&result);
        extractions += 1;
    }

    #[cfg(feature = "http")]
    for _ in 0..FUZZ_CASES / 10 {
        // Header values are bytes: not always UTF-8.
        let mut headers = http::HeaderMap::new();
        for key in &keys {
            let value = match rng.below(3) {
                0 => rng.bytes(40),
                _ => rng.mutate(valid[key].as_bytes()),
            };
            let value: Vec<u8> = value
                .into_iter()
                .filter(|&b| b >= 0x20 && b != 0x7f)
                .collect();
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(key.as_bytes()),
                http::HeaderValue::from_bytes(&value),
            ) {
                headers.insert(name, value);
            }
        }
        let result = all.extract(&headers);
        sane(&result, &headers);
        tally(&result);
        extractions += 1;
    }

    let elapsed = started.elapsed();
    eprintln!(
        "{extractions} random extractions (seed {seed:#x}) in {elapsed:.2?}: {found} found, \
         {corrupt} corrupt, the rest empty"
    );
    // The mutations reach all three verdicts.
    assert!(
        found > 1000 && corrupt > 1000,
        "found {found}, corrupt {corrupt}"
    );
}
