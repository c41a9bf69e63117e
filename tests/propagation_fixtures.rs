//! Ground truth: carriers injected by the real LightStep Python (4.4.8) and C++
//! (lightstep-streaming 0.14.0) tracers, in `tests/fixtures/propagation-*.json` (copies of `../shared/fixtures/`).
//!
//! Extracting each carrier must give the ids and baggage the fixture lists, and injecting
//! the same context must give the same keys and values. Where the fixture shows a quirk of
//! the other tracer, the test says so and asserts what SPEC.md §5 says this crate does.

use lightstep::collector::LocalCollector;
use lightstep::proto::lightstep::BinaryCarrier;
use lightstep::{Error, Options, Propagator, SpanContext, Tracer};
use prost::Message;
use std::collections::{BTreeMap, HashMap};

const PYTHON: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/propagation-python.json"
);
const CPP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/propagation-cpp.json"
);

// ---------------------------------------------------------------------------------------
// A tiny JSON reader: enough for the fixtures (objects, arrays, strings, literals).

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    fn parse(text: &str) -> Result<Json, String> {
        let mut parser = Parser {
            bytes: text.as_bytes(),
            at: 0,
        };
        let value = parser.value()?;
        parser.space();
        if parser.at != parser.bytes.len() {
            return Err(format!("trailing data at byte {}", parser.at));
        }
        Ok(value)
    }

    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The member `key`, which the fixture must have.
    fn at(&self, key: &str) -> &Json {
        self.get(key)
            .unwrap_or_else(|| panic!("fixture: no member {key:?} in {self:?}"))
    }

    fn str(&self) -> &str {
        match self {
            Json::String(s) => s,
            other => panic!("fixture: expected a string, found {other:?}"),
        }
    }

    fn bool(&self) -> bool {
        match self {
            Json::Bool(b) => *b,
            other => panic!("fixture: expected a boolean, found {other:?}"),
        }
    }

    fn array(&self) -> &[Json] {
        match self {
            Json::Array(items) => items,
            other => panic!("fixture: expected an array, found {other:?}"),
        }
    }

    fn members(&self) -> &[(String, Json)] {
        match self {
            Json::Object(members) => members,
            other => panic!("fixture: expected an object, found {other:?}"),
        }
    }

    /// An object of strings as a map.
    fn string_map(&self) -> HashMap<String, String> {
        self.members()
            .iter()
            .map(|(k, v)| (k.clone(), v.str().to_owned()))
            .collect()
    }
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn space(&mut self) {
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        self.space();
        if self.bytes.get(self.at) == Some(&byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("expected {:?} at byte {}", byte as char, self.at))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.space();
        match self.bytes.get(self.at) {
            Some(b'{') => {
                self.at += 1;
                let mut members = Vec::new();
                self.space();
                if self.bytes.get(self.at) == Some(&b'}') {
                    self.at += 1;
                    return Ok(Json::Object(members));
                }
                loop {
                    self.space();
                    let key = self.string()?;
                    self.expect(b':')?;
                    members.push((key, self.value()?));
                    self.space();
                    match self.bytes.get(self.at) {
                        Some(b',') => self.at += 1,
                        Some(b'}') => {
                            self.at += 1;
                            return Ok(Json::Object(members));
                        }
                        _ => return Err(format!("bad object at byte {}", self.at)),
                    }
                }
            }
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                self.space();
                if self.bytes.get(self.at) == Some(&b']') {
                    self.at += 1;
                    return Ok(Json::Array(items));
                }
                loop {
                    items.push(self.value()?);
                    self.space();
                    match self.bytes.get(self.at) {
                        Some(b',') => self.at += 1,
                        Some(b']') => {
                            self.at += 1;
                            return Ok(Json::Array(items));
                        }
                        _ => return Err(format!("bad array at byte {}", self.at)),
                    }
                }
            }
            Some(b'"') => Ok(Json::String(self.string()?)),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.at;
                while self
                    .bytes
                    .get(self.at)
                    .is_some_and(|b| b"+-.eE0123456789".contains(b))
                {
                    self.at += 1;
                }
                let text =
                    std::str::from_utf8(&self.bytes[start..self.at]).map_err(|e| e.to_string())?;
                text.parse()
                    .map(Json::Number)
                    .map_err(|e| format!("bad number {text:?}: {e}"))
            }
            _ => Err(format!("unexpected input at byte {}", self.at)),
        }
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json, String> {
        if self.bytes[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(format!("bad literal at byte {}", self.at))
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self
            .bytes
            .get(self.at..self.at + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .ok_or("cut-short \\u escape")?;
        self.at += 4;
        u32::from_str_radix(digits, 16).map_err(|e| e.to_string())
    }

    fn string(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            let byte = *self.bytes.get(self.at).ok_or("unterminated string")?;
            self.at += 1;
            match byte {
                b'"' => return String::from_utf8(out).map_err(|e| e.to_string()),
                b'\\' => {
                    let escape = *self.bytes.get(self.at).ok_or("unterminated escape")?;
                    self.at += 1;
                    let c = match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let first = self.hex4()?;
                            let code = if (0xd800..0xdc00).contains(&first) {
                                if !self.bytes[self.at..].starts_with(b"\\u") {
                                    return Err("lone surrogate".into());
                                }
                                self.at += 2;
                                let second = self.hex4()?;
                                0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00)
                            } else {
                                first
                            };
                            char::from_u32(code).ok_or("bad \\u escape")?
                        }
                        _ => return Err(format!("bad escape at byte {}", self.at)),
                    };
                    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                }
                other => out.push(other),
            }
        }
    }
}

#[test]
fn the_json_reader_reads_what_the_fixtures_use() {
    let doc = Json::parse(
        r#" {"a": [1, -2.5e1, true, false, null, {}], "b\u00e9\n": "x\"\ud83d\ude00"} "#,
    )
    .unwrap();
    assert_eq!(
        doc.at("a").array(),
        [
            Json::Number(1.0),
            Json::Number(-25.0),
            Json::Bool(true),
            Json::Bool(false),
            Json::Null,
            Json::Object(vec![])
        ]
    );
    assert_eq!(doc.at("bé\n").str(), "x\"😀");
    assert!(Json::parse("{\"a\": }").is_err());
    assert!(Json::parse("[1] 2").is_err());
}

fn load(path: &str) -> Json {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "cannot read the interop fixture {path}: {e} (tests/fixtures/README.md says \
             where it comes from)"
        )
    });
    Json::parse(&text).unwrap_or_else(|e| panic!("{path} is not valid JSON: {e}"))
}

// ---------------------------------------------------------------------------------------
// Helpers.

fn tracer(collector: &LocalCollector, propagators: &[Propagator]) -> Tracer {
    Tracer::new(
        Options::new("t")
            .collector_url(collector.url())
            .propagators(propagators),
    )
    .expect("tracer starts")
}

fn decode_hex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd hex length in fixture");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("fixture hex"))
        .collect()
}

fn decode_base64(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for byte in text.bytes().filter(|&b| b != b'=') {
        let sextet = ALPHABET
            .iter()
            .position(|&a| a == byte)
            .expect("fixture base64") as u32;
        acc = (acc << 6) | sextet;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// A context as the fixture describes it (`context`, or an `extracted_by_python`).
#[derive(Debug, Clone, PartialEq)]
struct Expected {
    trace_id: u64,
    span_id: u64,
    sampled: bool,
    baggage: BTreeMap<String, String>,
}

impl Expected {
    fn from_json(doc: &Json) -> Expected {
        Expected {
            trace_id: doc.at("trace_id").str().parse().expect("decimal trace id"),
            span_id: doc.at("span_id").str().parse().expect("decimal span id"),
            sampled: doc.at("sampled").bool(),
            baggage: doc
                .at("baggage")
                .members()
                .iter()
                .map(|(k, v)| (k.clone(), v.str().to_owned()))
                .collect(),
        }
    }

    fn of(context: &SpanContext) -> Expected {
        Expected {
            trace_id: context.trace_id(),
            span_id: context.span_id(),
            sampled: context.sampled(),
            baggage: context.baggage().clone(),
        }
    }

    fn context(&self) -> SpanContext {
        let mut context = SpanContext::new(self.trace_id, self.span_id).with_sampled(self.sampled);
        for (k, v) in &self.baggage {
            context = context.with_baggage_item(k.clone(), v.clone());
        }
        context
    }

    fn without_baggage(&self) -> Expected {
        Expected {
            baggage: BTreeMap::new(),
            ..self.clone()
        }
    }
}

fn found(result: Result<Option<SpanContext>, Error>, what: &str) -> SpanContext {
    match result {
        Ok(Some(context)) => context,
        other => panic!("{what}: expected a context, got {other:?}"),
    }
}

fn corrupted_key(result: Result<Option<SpanContext>, Error>, what: &str) -> (String, String) {
    match result {
        Err(Error::SpanContextCorrupted { format, key, .. }) => (format.to_owned(), key),
        other => panic!("{what}: expected SpanContextCorrupted, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Python: contexts injected in six formats.

#[test]
fn python_text_map_and_http_headers_match_both_ways() {
    let doc = load(PYTHON);
    let collector = LocalCollector::start().unwrap();
    let tracer = tracer(&collector, &[Propagator::LightStep]);
    let mut checked = 0;
    for case in doc.at("injected").array() {
        let name = case.at("name").str();
        let context = Expected::from_json(case.at("context"));
        for format in ["text_map", "http_headers"] {
            let entry = case.at("carriers").at(format);
            let carrier = entry.at("carrier").string_map();
            let python = Expected::from_json(entry.at("extracted_by_python"));
            assert_eq!(
                python, context,
                "{name}/{format}: the fixture is consistent"
            );

            let ours = found(tracer.extract(&carrier), name);
            assert_eq!(Expected::of(&ours), context, "{name}/{format}: extract");
            assert_eq!(ours.trace_id_high(), 0);

            let mut injected = HashMap::new();
            tracer.inject(&context.context(), &mut injected);
            assert_eq!(
                injected, carrier,
                "{name}/{format}: inject gives the same keys"
            );

            #[cfg(feature = "http")]
            {
                let mut headers = http::HeaderMap::new();
                for (k, v) in &carrier {
                    headers.insert(
                        http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                        http::HeaderValue::from_str(v).unwrap(),
                    );
                }
                let ours = found(tracer.extract(&headers), name);
                assert_eq!(Expected::of(&ours), context, "{name}/{format}: HeaderMap");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 6);
}

#[test]
fn python_lightstep_binary_matches_both_ways() {
    let doc = load(PYTHON);
    let collector = LocalCollector::start().unwrap();
    let tracer = tracer(&collector, &[Propagator::LightStep]);
    for case in doc.at("injected").array() {
        let name = case.at("name").str();
        let context = Expected::from_json(case.at("context"));
        let entry = case.at("carriers").at("lightstep_binary");
        let text = entry.at("carrier_text").str();
        assert_eq!(
            Expected::from_json(entry.at("extracted_by_python")),
            context
        );

        // The text, and the protobuf inside it (raw, as the C++ tracer writes it).
        let ours = found(tracer.extract_binary(text.as_bytes()), name);
        assert_eq!(Expected::of(&ours), context, "{name}: base64 text");
        let proto = decode_hex(entry.at("proto_hex").str());
        let ours = found(tracer.extract_binary(&proto), name);
        assert_eq!(Expected::of(&ours), context, "{name}: raw protobuf");

        let injected = tracer.inject_binary(&context.context());
        if context.baggage.len() <= 1 {
            assert_eq!(
                String::from_utf8_lossy(&injected),
                text,
                "{name}: inject gives the same bytes"
            );
        } else {
            // Baggage is a protobuf map, whose entries have no defined order: Python wrote
            // them in its dict's order, we write them in key order. Same message, same
            // length, entries swapped.
            assert_ne!(injected, text.as_bytes(), "{name}: the order differs");
            assert_eq!(injected.len(), text.len());
            let ours = BinaryCarrier::decode(
                decode_base64(&String::from_utf8_lossy(&injected)).as_slice(),
            )
            .expect("our carrier decodes");
            let theirs = BinaryCarrier::decode(proto.as_slice()).expect("theirs decodes");
            assert_eq!(ours, theirs, "{name}: the same message");
        }
    }
}

#[test]
fn python_opentracing_binary_is_read() {
    // Python's `Format.BINARY` is a 4-byte big-endian length, then a `TracerState`. We
    // read it (it cannot be mistaken for the other binary forms: it starts with 0x00), but
    // inject only the LightStep binary format (SPEC §5), so there is no inject comparison.
    let doc = load(PYTHON);
    let collector = LocalCollector::start().unwrap();
    let tracer = tracer(&collector, &[Propagator::LightStep]);
    for case in doc.at("injected").array() {
        let name = case.at("name").str();
        let context = Expected::from_json(case.at("context"));
        let entry = case.at("carriers").at("binary");
        let bytes = decode_hex(entry.at("carrier_hex").str());
        assert_eq!(bytes, decode_base64(entry.at("carrier_base64").str()));
        let ours = found(tracer.extract_binary(&bytes), name);
        assert_eq!(Expected::of(&ours), context, "{name}: binary");
        assert_eq!(
            Expected::from_json(entry.at("extracted_by_python")),
            context
        );
    }
}

#[test]
fn python_b3_ids_match_and_its_quirks_are_not_copied() {
    // The Python B3 propagator (shipped, not registered by default) writes ids unpadded,
    // always `x-b3-sampled: 1`, and baggage as bare headers (`user.id: alice`); reading, it
    // takes every other header as baggage (even `x-b3-sampled`). We read its unpadded ids
    // (the Go tracer writes them too), honour the sampling header as written, and carry
    // baggage only as `ot-baggage-*` (as the Go and C++ tracers' B3 does), so its bare
    // headers are not baggage to us. We inject 16-digit ids and the real sampling state.
    let doc = load(PYTHON);
    let collector = LocalCollector::start().unwrap();
    let tracer = tracer(&collector, &[Propagator::B3]);
    for case in doc.at("injected").array() {
        let name = case.at("name").str();
        let context = Expected::from_json(case.at("context"));
        let entry = case.at("carriers").at("b3");
        let carrier = entry.at("carrier").string_map();
        let python = Expected::from_json(entry.at("extracted_by_python"));
        assert_eq!(
            (python.trace_id, python.span_id),
            (context.trace_id, context.span_id)
        );

        let ours = found(tracer.extract(&carrier), name);
        assert_eq!(carrier["x-b3-sampled"], "1", "Python always writes 1");
        let expected = Expected {
            sampled: true,
            ..context.without_baggage()
        };
        assert_eq!(Expected::of(&ours), expected, "{name}: extract");

        let mut injected = BTreeMap::new();
        tracer.inject(&context.context(), &mut injected);
        let hex16 = |doc: &Json, key: &str| doc.at(key).str().to_owned();
        assert_eq!(
            injected["x-b3-traceid"],
            hex16(case.at("context"), "trace_id_hex16")
        );
        assert_eq!(
            injected["x-b3-spanid"],
            hex16(case.at("context"), "span_id_hex16")
        );
        for key in ["x-b3-traceid", "x-b3-spanid"] {
            assert_eq!(
                u64::from_str_radix(&injected[key], 16),
                u64::from_str_radix(&carrier[key], 16),
                "{name}: {key} is the same number"
            );
        }
        let sampled = if context.sampled { "1" } else { "0" };
        assert_eq!(
            injected["x-b3-sampled"], sampled,
            "{name}: sampling honoured"
        );
        for (key, value) in &context.baggage {
            assert_eq!(carrier[key], *value, "Python's bare baggage header");
            assert_eq!(injected[&format!("ot-baggage-{key}")], *value);
        }
        assert_eq!(injected.len(), 3 + context.baggage.len());
        // And what we inject comes back whole.
        let back = found(tracer.extract(&injected), name);
        assert_eq!(Expected::of(&back), context, "{name}: our B3 round trip");
    }
}

#[test]
fn python_traceparent_ids_match_and_its_quirks_are_not_copied() {
    // The Python Trace Context propagator writes flags `00` even when sampled (it takes
    // them from a `trace-flags` baggage item) and baggage as bare headers; reading, it
    // calls everything sampled. We follow the W3C spec: flags 00 means not sampled, and
    // we write 01 for a sampled context; baggage travels as `ot-baggage-*`.
    let doc = load(PYTHON);
    let collector = LocalCollector::start().unwrap();
    let tracer = tracer(&collector, &[Propagator::TraceContext]);
    for case in doc.at("injected").array() {
        let name = case.at("name").str();
        let context = Expected::from_json(case.at("context"));
        let entry = case.at("carriers").at("traceparent");
        let carrier = entry.at("carrier").string_map();
        let python = Expected::from_json(entry.at("extracted_by_python"));
        assert_eq!(
            (python.trace_id, python.span_id),
            (context.trace_id, context.span_id)
        );

        let ours = found(tracer.extract(&carrier), name);
        assert!(carrier["traceparent"].ends_with("-00"), "Python's flags");
        let expected = Expected {
            sampled: false,
            ..context.without_baggage()
        };
        assert_eq!(Expected::of(&ours), expected, "{name}: extract");
        assert_eq!(ours.trace_id_high(), 0);
        assert_eq!(ours.tracestate(), None);

        let mut injected = BTreeMap::new();
        tracer.inject(&context.context(), &mut injected);
        let theirs = &carrier["traceparent"];
        let flags = if context.sampled { "01" } else { "00" };
        assert_eq!(
            injected["traceparent"],
            format!("{}{flags}", &theirs[..theirs.len() - 2]),
            "{name}: the same traceparent but for the flags"
        );
        if !context.sampled {
            assert_eq!(&injected["traceparent"], theirs, "{name}: identical");
        }
        for (key, value) in &context.baggage {
            assert_eq!(carrier[key], *value, "Python's bare baggage header");
            assert_eq!(injected[&format!("ot-baggage-{key}")], *value);
        }
        let back = found(tracer.extract(&injected), name);
        assert_eq!(Expected::of(&back), context, "{name}: our W3C round trip");
    }
}

// ---------------------------------------------------------------------------------------
// Python: its verdicts on malformed or odd carriers.

/// What we do with each of the Python fixture's `extract_cases`.
enum Verdict {
    /// As Python: found, with the ids and baggage it lists.
    Found,
    /// As Python: no context.
    NotFound,
    /// As Python: an error, at this key.
    Error(&'static str),
    /// Python accepts it through a leniency the fixture says not to copy (its
    /// `int(x, 16)` takes `0x`, signs, spaces, zero and over-long ids); we refuse it.
    StricterError(&'static str),
    /// Python returns an all-zero context; for us a carrier with nothing in it holds no
    /// context.
    EmptyIsNone,
}

fn verdict(name: &str) -> Verdict {
    match name {
        "mixed_case_keys" | "sampled_as_digit" => Verdict::Found,
        "empty_map" | "unrelated_keys_only" => Verdict::NotFound,
        "baggage_without_context" => Verdict::Error("ot-baggage-*"),
        "missing_sampled" => Verdict::Error("ot-tracer-sampled"),
        "missing_span_id" => Verdict::Error("ot-tracer-spanid"),
        "non_hex_trace_id" | "empty_trace_id" => Verdict::Error("ot-tracer-traceid"),
        "bad_sampled_value" => Verdict::Error("ot-tracer-sampled"),
        "trace_id_128_bit"
        | "trace_id_over_128_bit"
        | "zero_ids"
        | "hex_with_0x_prefix"
        | "negative_hex"
        | "padded_hex_with_spaces" => Verdict::StricterError("ot-tracer-traceid"),
        "binary_empty" | "binary_length_prefix_only" | "lightstep_binary_empty" => {
            Verdict::EmptyIsNone
        }
        "binary_garbage" => Verdict::Error("protobuf"),
        "lightstep_binary_not_base64" => Verdict::Error("base64"),
        other => panic!("a new extract case in the fixture: {other}; decide its verdict"),
    }
}

#[test]
fn python_extract_cases_get_the_documented_verdicts() {
    let doc = load(PYTHON);
    let collector = LocalCollector::start().unwrap();
    let tracer = tracer(&collector, &[Propagator::LightStep]);
    let cases = doc.at("extract_cases").array();
    assert_eq!(cases.len(), 21);
    for case in cases {
        let name = case.at("name").str();
        let python = case.at("python_verdict");
        let python_ok = python.at("ok").bool();
        let python_found = python_ok && python.at("found").bool();
        let result = match case.at("format").str() {
            "text_map" | "http_headers" => tracer.extract(&case.at("carrier").string_map()),
            "binary" | "lightstep_binary" => {
                tracer.extract_binary(&decode_hex(case.at("carrier_hex").str()))
            }
            other => panic!("unknown format {other}"),
        };
        match verdict(name) {
            Verdict::Found => {
                assert!(python_found);
                let ours = found(result, name);
                assert_eq!(Expected::of(&ours), Expected::from_json(python), "{name}");
            }
            Verdict::NotFound => {
                assert!(python_ok && !python_found);
                assert_eq!(result, Ok(None), "{name}");
            }
            Verdict::Error(key) => {
                assert!(!python_ok, "{name}: Python refused it too");
                assert_eq!(corrupted_key(result, name).1, key, "{name}");
            }
            Verdict::StricterError(key) => {
                assert!(python_found, "{name}: Python's leniency");
                assert_eq!(corrupted_key(result, name).1, key, "{name}");
            }
            Verdict::EmptyIsNone => {
                assert!(python_found);
                assert_eq!(python.at("trace_id").str(), "0", "Python's zero context");
                assert_eq!(result, Ok(None), "{name}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// C++: the child span's carriers.

#[test]
fn cpp_carriers_match_both_ways() {
    let doc = load(CPP);
    let collector = LocalCollector::start().unwrap();
    let tracer = tracer(&collector, &[Propagator::LightStep]);
    let carriers = doc.at("carriers_for_child");
    let python = doc.at("extracted_by_python");
    let context = Expected::from_json(python.at("text_map"));
    assert_eq!(context.baggage["user.id"], "alice");

    for format in ["text_map", "http_headers"] {
        let carrier = carriers.at(format).string_map();
        assert_eq!(Expected::from_json(python.at(format)), context);
        let ours = found(tracer.extract(&carrier), format);
        assert_eq!(Expected::of(&ours), context, "C++ {format}: extract");

        // The C++ tracer writes `ot-tracer-sampled: 1`; SPEC §5 has us write `true`
        // (which the C++ tracer reads too). Everything else is the same.
        let mut injected = HashMap::new();
        tracer.inject(&context.context(), &mut injected);
        assert_eq!(carrier["ot-tracer-sampled"], "1");
        assert_eq!(injected["ot-tracer-sampled"], "true");
        let mut expected = carrier.clone();
        expected.insert("ot-tracer-sampled".into(), "true".into());
        assert_eq!(injected, expected, "C++ {format}: inject");
    }

    // Binary: the C++ tracer writes raw `BinaryCarrier` bytes; we write their base64,
    // which is what Python's `lightstep_binary` read from them.
    let raw = decode_hex(carriers.at("binary_hex").str());
    assert_eq!(
        Expected::from_json(python.at("binary_base64_as_lightstep_binary")),
        context
    );
    let ours = found(tracer.extract_binary(&raw), "C++ binary");
    assert_eq!(Expected::of(&ours), context, "C++ raw binary: extract");
    let injected = tracer.inject_binary(&context.context());
    assert_eq!(
        decode_base64(&String::from_utf8_lossy(&injected)),
        raw,
        "C++ binary: the same protobuf bytes"
    );
    let ours = found(tracer.extract_binary(&injected), "our binary");
    assert_eq!(Expected::of(&ours), context, "our binary: extract");
    assert!(!python.at("binary_as_basictracer_binary").at("ok").bool());
}
