//! The LightStep (OpenTracing basic tracer) text-map / HTTP-header format.
//!
//! `ot-tracer-traceid` and `ot-tracer-spanid` are lower-case hex without padding (64 bits)
//! on inject; extract also reads them zero-padded up to 32 digits (as a LightStep tracer
//! writes an id it received shorter than 16 digits) whenever the value fits in 64 bits.
//! `ot-tracer-sampled` is `true`/`false` (`1`/`0`, which the C++ tracer writes, is read
//! too), and each baggage item is `ot-baggage-<key>` with the value verbatim. Keys are
//! matched without regard to case; baggage keys come back in lower case. No tracer key at
//! all is `Ok(None)`; some but not all of them, or a bad id, is an error.

use super::carrier::{Extractor, Injector};
use super::{excerpt, get, hex, BaggageBudget};
use crate::context::SpanContext;
use crate::Error;

const FORMAT: &str = "lightstep";
const TRACE_ID: &str = "ot-tracer-traceid";
const SPAN_ID: &str = "ot-tracer-spanid";
const SAMPLED: &str = "ot-tracer-sampled";
pub(crate) const BAGGAGE_PREFIX: &str = "ot-baggage-";

pub(crate) fn inject(context: &SpanContext, carrier: &mut impl Injector) {
    carrier.set(TRACE_ID, format!("{:x}", context.trace_id()));
    carrier.set(SPAN_ID, format!("{:x}", context.span_id));
    carrier.set(
        SAMPLED,
        if context.sampled { "true" } else { "false" }.to_owned(),
    );
    inject_baggage(context, carrier);
}

/// Baggage as `ot-baggage-<key>`, shared with the B3 and Trace Context formats (which
/// have none of their own).
pub(crate) fn inject_baggage(context: &SpanContext, carrier: &mut impl Injector) {
    for (key, value) in context.baggage() {
        carrier.set(&format!("{BAGGAGE_PREFIX}{key}"), value.clone());
    }
}

/// Reads `ot-baggage-*` items (keys lower-cased) into `context`, within the baggage
/// limits: items past them are dropped, with an event.
pub(crate) fn extract_baggage(
    carrier: &impl Extractor,
    format: &'static str,
    context: &mut SpanContext,
) {
    let mut budget = BaggageBudget::default();
    for (key, value) in carrier.decoded_pairs() {
        if let Some(name) = strip_prefix_ignore_case(key, BAGGAGE_PREFIX) {
            if !name.is_empty() && budget.admit(name, &value) {
                context.set_baggage_item(name.to_ascii_lowercase(), value.into_owned());
            }
        }
    }
    budget.report(format);
}

fn has_baggage(carrier: &impl Extractor) -> bool {
    carrier
        .decoded_pairs()
        .any(|(key, _)| strip_prefix_ignore_case(key, BAGGAGE_PREFIX).is_some())
}

fn strip_prefix_ignore_case<'a>(key: &'a str, prefix: &str) -> Option<&'a str> {
    let head = key.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        key.get(prefix.len()..)
    } else {
        None
    }
}

/// `true`/`false` (any case) or `1`/`0`.
pub(crate) fn parse_sampled(text: &str) -> Option<bool> {
    match text.trim() {
        "1" => Some(true),
        "0" => Some(false),
        t if t.eq_ignore_ascii_case("true") => Some(true),
        t if t.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn parse_id(text: &str, key: &'static str) -> Result<u64, Error> {
    hex::parse_u64(text)
        .map_err(|e| Error::corrupted(FORMAT, key, format!("{e}: {}", excerpt(text))))
}

pub(crate) fn extract(carrier: &impl Extractor) -> Result<Option<SpanContext>, Error> {
    let trace_id = get(carrier, FORMAT, TRACE_ID)?;
    let span_id = get(carrier, FORMAT, SPAN_ID)?;
    let sampled = get(carrier, FORMAT, SAMPLED)?;
    if trace_id.is_none() && span_id.is_none() && sampled.is_none() {
        if has_baggage(carrier) {
            return Err(Error::corrupted(
                FORMAT,
                "ot-baggage-*",
                "baggage without ot-tracer-traceid, ot-tracer-spanid and ot-tracer-sampled",
            ));
        }
        return Ok(None);
    }
    let missing = |key: &str| Error::corrupted(FORMAT, key, "missing");
    let trace_id = trace_id.ok_or_else(|| missing(TRACE_ID))?;
    let span_id = span_id.ok_or_else(|| missing(SPAN_ID))?;
    let sampled = sampled.ok_or_else(|| missing(SAMPLED))?;
    let trace_id = parse_id(trace_id, TRACE_ID)?;
    let span_id = parse_id(span_id, SPAN_ID)?;
    let sampled = parse_sampled(sampled).ok_or_else(|| {
        Error::corrupted(
            FORMAT,
            SAMPLED,
            format!("expected true, false, 1 or 0, not {}", excerpt(sampled)),
        )
    })?;
    let mut context = SpanContext::from_ids(0, trace_id, span_id, sampled);
    extract_baggage(carrier, FORMAT, &mut context);
    Ok(Some(context))
}
