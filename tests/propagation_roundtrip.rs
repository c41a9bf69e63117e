//! Inject → extract round trips for every format and carrier, with random ids (64- and
//! 128-bit), sampling decisions, `tracestate` and baggage (empty and Unicode values).

use lightstep::collector::LocalCollector;
use lightstep::{Options, Propagator, SpanContext, Tracer};
use proptest::collection::btree_map;
use proptest::prelude::*;
use proptest::test_runner::{
    Config, FileFailurePersistence, RngSeed, TestCaseError, TestError, TestRunner,
};
use std::collections::{BTreeMap, HashMap};

const CASES: u32 = 2000;

fn tracer(collector: &LocalCollector, propagators: &[Propagator]) -> Tracer {
    Tracer::new(
        Options::new("t")
            .collector_url(collector.url())
            .propagators(propagators),
    )
    .expect("tracer starts")
}

/// The seed of every run unless `PROPTEST_RNG_SEED` names another: fixed, so that a
/// failure replays with the same cases (and CI can explore more with other seeds).
const SEED: u64 = 0x6c69_6768_7473_7465;

/// Failing cases are saved here, and run first the next time.
const REGRESSIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/proptest-regressions/propagation_roundtrip.txt"
);

fn seed() -> RngSeed {
    // `Config::default()` reads the `PROPTEST_*` variables.
    match Config::default().rng_seed {
        RngSeed::Random => RngSeed::Fixed(SEED),
        chosen => chosen,
    }
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        rng_seed: seed(),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
        ..Config::default()
    })
}

/// Fails the test with the minimal failing case and how to replay it.
fn check<T: std::fmt::Debug>(outcome: Result<(), TestError<T>>) {
    if let Err(error) = outcome {
        let RngSeed::Fixed(seed) = seed() else {
            unreachable!("the seed is always fixed")
        };
        panic!(
            "{error}\nreplay: PROPTEST_RNG_SEED={seed} (the case is also saved in {REGRESSIONS})"
        );
    }
}

/// What a generated context is made of.
#[derive(Debug, Clone)]
struct Parts {
    high: u64,
    low: u64,
    span: u64,
    sampled: bool,
    tracestate: Option<String>,
    baggage: BTreeMap<String, String>,
}

fn non_zero() -> impl Strategy<Value = u64> {
    prop_oneof![1..=u64::MAX, Just(1), Just(u64::MAX), 1..0x1_0000u64]
}

fn high() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0), any::<u64>(), Just(u64::MAX)]
}

/// Baggage keys as text formats carry them: they come back lower-cased, and must be
/// header names for `http::HeaderMap`.
fn text_key() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9._-]{0,15}"
}

/// Any value an HTTP header can hold: printable ASCII and any Unicode, or nothing.
fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[ -~]{0,24}",
        "[^\u{0}-\u{1f}\u{7f}]{0,12}",
        Just("héllo wörld ☃ 日本語 🦀".to_owned()),
    ]
}

/// A `tracestate` as W3C allows it.
fn tracestate() -> impl Strategy<Value = Option<String>> {
    proptest::option::of("[a-z][a-z0-9_*/-]{0,8}=[!-+.-<>-~]{1,16}(,[a-z]{1,6}=[0-9a-f]{1,8}){0,3}")
}

fn parts(
    key: impl Strategy<Value = String>,
    value: impl Strategy<Value = String>,
) -> impl Strategy<Value = Parts> {
    (
        high(),
        non_zero(),
        non_zero(),
        any::<bool>(),
        tracestate(),
        btree_map(key, value, 0..6),
    )
        .prop_map(|(high, low, span, sampled, tracestate, baggage)| Parts {
            high,
            low,
            span,
            sampled,
            tracestate,
            baggage,
        })
}

/// The context, made through the public API; a `tracestate` can only come in from a
/// carrier, so it is read from one by `w3c` (a tracer with the Trace Context format).
fn context(w3c: &Tracer, parts: &Parts) -> SpanContext {
    let mut context = SpanContext::new(parts.low, parts.span)
        .with_trace_id_high(parts.high)
        .with_sampled(parts.sampled);
    if let Some(state) = &parts.tracestate {
        let carrier: HashMap<String, String> = [
            (
                "traceparent".to_owned(),
                format!(
                    "00-{:016x}{:016x}-{:016x}-0{}",
                    parts.high,
                    parts.low,
                    parts.span,
                    u8::from(parts.sampled)
                ),
            ),
            ("tracestate".to_owned(), state.clone()),
        ]
        .into();
        context = w3c
            .extract(&carrier)
            .expect("a valid traceparent")
            .expect("found");
        assert_eq!(context.tracestate(), Some(state.as_str()));
    }
    for (k, v) in &parts.baggage {
        context = context.with_baggage_item(k.clone(), v.clone());
    }
    context
}

/// What survives each format: LightStep and binary carry 64-bit ids and no tracestate;
/// B3 carries 128-bit ids; Trace Context carries 128-bit ids and tracestate. All carry
/// baggage (the text formats as `ot-baggage-*`).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Carries {
    LightStep,
    B3,
    TraceContext,
}

fn expect_same(
    got: &SpanContext,
    sent: &SpanContext,
    carries: Carries,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.trace_id(), sent.trace_id());
    prop_assert_eq!(got.span_id(), sent.span_id());
    prop_assert_eq!(got.sampled(), sent.sampled());
    prop_assert_eq!(got.baggage(), sent.baggage());
    let high = match carries {
        Carries::LightStep => 0,
        _ => sent.trace_id_high(),
    };
    prop_assert_eq!(got.trace_id_high(), high);
    let state = match carries {
        Carries::TraceContext => sent.tracestate(),
        _ => None,
    };
    prop_assert_eq!(got.tracestate(), state);
    Ok(())
}

/// Flips the ASCII case of some keys (not values: W3C ids are lower-case by rule).
fn shout(carrier: &HashMap<String, String>, mask: u64) -> HashMap<String, String> {
    carrier
        .iter()
        .enumerate()
        .map(|(i, (k, v))| {
            let key = if mask >> (i % 64) & 1 == 1 {
                k.to_ascii_uppercase()
            } else {
                k.clone()
            };
            (key, v.clone())
        })
        .collect()
}

fn text_round_trips(propagators: &[Propagator], carries: Carries, count: u32) {
    let collector = LocalCollector::start().unwrap();
    let tracer = tracer(&collector, propagators);
    let w3c = self::tracer(&collector, &[Propagator::TraceContext]);
    let strategy = (parts(text_key(), header_value()), any::<u64>());
    let cases = std::cell::Cell::new(0u32);
    let outcome = runner(count).run(&strategy, |(parts, mask)| {
        cases.set(cases.get() + 1);
        let sent = context(&w3c, &parts);

        let mut map = HashMap::new();
        tracer.inject(&sent, &mut map);
        let got = tracer.extract(&map).expect("valid").expect("found");
        expect_same(&got, &sent, carries)?;

        let got = tracer
            .extract(&shout(&map, mask))
            .expect("valid")
            .expect("found");
        expect_same(&got, &sent, carries)?;

        let mut tree = BTreeMap::new();
        tracer.inject(&sent, &mut tree);
        prop_assert_eq!(tree.len(), map.len());
        let got = tracer.extract(&tree).expect("valid").expect("found");
        expect_same(&got, &sent, carries)?;

        #[cfg(feature = "http")]
        {
            let mut headers = http::HeaderMap::new();
            tracer.inject(&sent, &mut headers);
            prop_assert_eq!(headers.len(), map.len());
            let got = tracer.extract(&headers).expect("valid").expect("found");
            expect_same(&got, &sent, carries)?;
        }

        // A child keeps the trace: ids, sampling, baggage and tracestate.
        let child = tracer.span("child").child_of(&sent).start();
        let mut map = HashMap::new();
        tracer.inject(child.context(), &mut map);
        let got = tracer.extract(&map).expect("valid").expect("found");
        prop_assert_eq!(got.span_id(), child.context().span_id());
        prop_assert_eq!(got.trace_id(), sent.trace_id());
        prop_assert_eq!(got.baggage(), sent.baggage());
        if carries == Carries::TraceContext {
            prop_assert_eq!(got.trace_id_high(), sent.trace_id_high());
            prop_assert_eq!(got.tracestate(), sent.tracestate());
        }
        Ok(())
    });
    check(outcome);
    // Every case ran (a saved regression adds to them).
    assert!(cases.get() >= count, "{} cases ran", cases.get());
}

#[test]
fn lightstep_round_trips() {
    text_round_trips(&[Propagator::LightStep], Carries::LightStep, CASES);
}

#[test]
fn b3_round_trips() {
    text_round_trips(&[Propagator::B3], Carries::B3, CASES);
}

#[test]
fn trace_context_round_trips() {
    text_round_trips(&[Propagator::TraceContext], Carries::TraceContext, CASES);
}

#[test]
fn a_stack_extracts_with_its_first_format() {
    text_round_trips(
        &[
            Propagator::TraceContext,
            Propagator::B3,
            Propagator::LightStep,
        ],
        Carries::TraceContext,
        CASES / 3,
    );
    text_round_trips(
        &[Propagator::LightStep, Propagator::TraceContext],
        Carries::LightStep,
        CASES / 3,
    );
    text_round_trips(
        &[Propagator::B3, Propagator::LightStep],
        Carries::B3,
        CASES / 3,
    );
}

#[test]
fn binary_round_trips_with_any_baggage() {
    // The binary format carries baggage keys and values verbatim: any Unicode, any case.
    let collector = LocalCollector::start().unwrap();
    let tracer = tracer(&collector, &[Propagator::LightStep]);
    let w3c = self::tracer(&collector, &[Propagator::TraceContext]);
    let strategy = (parts(".{0,12}", ".{0,24}"), any::<bool>());
    let cases = std::cell::Cell::new(0u32);
    let outcome = runner(CASES).run(&strategy, |(parts, raw)| {
        cases.set(cases.get() + 1);
        let sent = context(&w3c, &parts);
        let text = tracer.inject_binary(&sent);
        prop_assert!(text.iter().all(u8::is_ascii_graphic), "base64 text");
        let got = tracer.extract_binary(&text).expect("valid").expect("found");
        expect_same(&got, &sent, Carries::LightStep)?;
        // Deterministic: the same context gives the same bytes.
        prop_assert_eq!(tracer.inject_binary(&got), text.clone());
        if raw {
            // The raw protobuf, as the C++ tracer writes it.
            let bytes = decode_base64(&text);
            let got = tracer
                .extract_binary(&bytes)
                .expect("valid")
                .expect("found");
            expect_same(&got, &sent, Carries::LightStep)?;
        }
        Ok(())
    });
    check(outcome);
    // Every case ran (a saved regression adds to them).
    assert!(cases.get() >= CASES, "{} cases ran", cases.get());
}

fn decode_base64(text: &[u8]) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for &byte in text.iter().filter(|&&b| b != b'=') {
        let sextet = ALPHABET.iter().position(|&a| a == byte).expect("base64") as u32;
        acc = (acc << 6) | sextet;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[test]
fn unicode_and_empty_baggage_values_survive_every_format() {
    let collector = LocalCollector::start().unwrap();
    let all = [
        Propagator::LightStep,
        Propagator::B3,
        Propagator::TraceContext,
    ];
    let sent = SpanContext::new(0xf1e2d3c4b5a69788, 0x0123456789abcdef)
        .with_trace_id_high(0x0af7651916cd43dd)
        .with_baggage_item("empty", "")
        .with_baggage_item("unicode", "héllo ☃ 日本語 🦀")
        .with_baggage_item("spaces", "  padded  ");
    for propagator in all {
        let tracer = tracer(&collector, &[propagator]);
        let mut map = BTreeMap::new();
        tracer.inject(&sent, &mut map);
        let got = tracer.extract(&map).unwrap().unwrap();
        assert_eq!(got.baggage(), sent.baggage(), "{propagator}");
        assert_eq!(got.baggage_item("unicode"), Some("héllo ☃ 日本語 🦀"));
        assert_eq!(got.baggage_item("empty"), Some(""));
        let high = if propagator == Propagator::LightStep {
            0
        } else {
            0x0af7651916cd43dd
        };
        assert_eq!(got.trace_id_high(), high, "{propagator}");
        assert_eq!(got.trace_id(), 0xf1e2d3c4b5a69788, "{propagator}");
    }
    let tracer = tracer(&collector, &all);
    let got = tracer
        .extract_binary(&tracer.inject_binary(&sent))
        .unwrap()
        .unwrap();
    assert_eq!(got.baggage(), sent.baggage());
}

#[test]
fn inject_writes_the_documented_keys() {
    let collector = LocalCollector::start().unwrap();
    let tracer = tracer(
        &collector,
        &[
            Propagator::LightStep,
            Propagator::B3,
            Propagator::TraceContext,
        ],
    );
    let sent = SpanContext::new(0xab, 0x1)
        .with_trace_id_high(0x0af7651916cd43dd)
        .with_sampled(false)
        .with_baggage_item("user.id", "alice");
    let mut map = BTreeMap::new();
    tracer.inject(&sent, &mut map);
    let expected: BTreeMap<String, String> = [
        ("ot-tracer-traceid", "ab"),
        ("ot-tracer-spanid", "1"),
        ("ot-tracer-sampled", "false"),
        ("ot-baggage-user.id", "alice"),
        ("x-b3-traceid", "0af7651916cd43dd00000000000000ab"),
        ("x-b3-spanid", "0000000000000001"),
        ("x-b3-sampled", "0"),
        (
            "traceparent",
            "00-0af7651916cd43dd00000000000000ab-0000000000000001-00",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(map, expected);

    // The no-op tracer's context (zero ids) writes nothing.
    let noop = lightstep::global().span("noop").start();
    let mut map = BTreeMap::new();
    tracer.inject(noop.context(), &mut map);
    assert!(map.is_empty());
    assert!(tracer.inject_binary(noop.context()).is_empty());
}
