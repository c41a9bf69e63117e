//! Zero-padded ids, as real tracers send them (`tests/data/zero_padded_ids.txt`): each
//! carrier is read in its format, the context read is written back in that format's
//! canonical form (which the sender reads again), and padded ids too big for their id
//! are refused naming the key.

use lightstep::collector::LocalCollector;
use lightstep::{Error, Options, Propagator, SpanContext, Tracer};
use std::collections::HashMap;

const CASES: &str = include_str!("data/zero_padded_ids.txt");

enum Expected {
    Ids(u64, u64, u64),
    Error(String),
}

struct Case {
    line: &'static str,
    propagator: Propagator,
    carrier: HashMap<String, String>,
    expected: Expected,
}

fn hex(text: &str) -> u64 {
    u64::from_str_radix(text, 16).unwrap_or_else(|_| panic!("bad hex in the data: {text}"))
}

fn cases() -> Vec<Case> {
    CASES
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (carrier, expected) = line.split_once(" => ").expect("a `=>` in each case");
            let mut words = carrier.split_whitespace();
            let propagator = words.next().unwrap().parse().unwrap();
            let carrier = words
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap();
                    (k.to_owned(), v.to_owned())
                })
                .collect();
            let expected: Vec<&str> = expected.split_whitespace().collect();
            let expected = match expected[..] {
                ["error", key] => Expected::Error(key.to_owned()),
                [high, low, span] => Expected::Ids(hex(high), hex(low), hex(span)),
                _ => panic!("bad expectation: {line}"),
            };
            Case {
                line,
                propagator,
                carrier,
                expected,
            }
        })
        .collect()
}

fn tracer(collector: &LocalCollector, propagator: Propagator) -> Tracer {
    Tracer::new(
        Options::new("t")
            .collector_url(collector.url())
            .propagators(&[propagator]),
    )
    .unwrap()
}

#[test]
fn zero_padded_ids_are_read_in_every_text_format() {
    let collector = LocalCollector::start().unwrap();
    let cases = cases();
    assert!(cases.len() >= 15, "the data file has its cases");
    let mut read = 0;
    for case in &cases {
        let tracer = tracer(&collector, case.propagator);
        let result = tracer.extract(&case.carrier);
        match &case.expected {
            Expected::Ids(high, low, span) => {
                let context = result
                    .unwrap_or_else(|e| panic!("{}: {e}", case.line))
                    .unwrap_or_else(|| panic!("{}: no context", case.line));
                assert_eq!(
                    (
                        context.trace_id_high(),
                        context.trace_id(),
                        context.span_id()
                    ),
                    (*high, *low, *span),
                    "{}",
                    case.line
                );
                read += 1;
            }
            Expected::Error(key) => match result {
                Err(Error::SpanContextCorrupted { key: k, .. }) => {
                    assert_eq!(&k, key, "{}", case.line)
                }
                other => panic!("{}: expected an error at {key}, got {other:?}", case.line),
            },
        }
    }
    assert!(read >= 10);
}

/// What we write for a context read from a padded carrier is the canonical form, and
/// reads back to the same context: the other direction of the exchange.
#[test]
fn contexts_read_from_padded_ids_are_written_canonically() {
    let collector = LocalCollector::start().unwrap();
    for case in cases() {
        let Expected::Ids(high, low, span) = case.expected else {
            continue;
        };
        let tracer = tracer(&collector, case.propagator);
        let context = tracer.extract(&case.carrier).unwrap().unwrap();
        let mut carrier: HashMap<String, String> = HashMap::new();
        tracer.inject(&context, &mut carrier);
        match case.propagator {
            Propagator::LightStep => {
                assert_eq!(carrier["ot-tracer-traceid"], format!("{low:x}"));
                assert_eq!(carrier["ot-tracer-spanid"], format!("{span:x}"));
            }
            Propagator::B3 => {
                let trace = if high == 0 {
                    format!("{low:016x}")
                } else {
                    format!("{high:016x}{low:016x}")
                };
                assert_eq!(carrier["x-b3-traceid"], trace, "{}", case.line);
                assert_eq!(carrier["x-b3-spanid"], format!("{span:016x}"));
            }
            _ => {
                assert_eq!(
                    carrier["traceparent"],
                    format!(
                        "00-{high:016x}{low:016x}-{span:016x}-{:02x}",
                        u8::from(context.sampled())
                    )
                );
            }
        }
        let again: SpanContext = tracer.extract(&carrier).unwrap().unwrap();
        assert_eq!(
            (again.trace_id_high(), again.trace_id(), again.span_id()),
            (high, low, span),
            "{}",
            case.line
        );
    }
}
