//! The LightStep (OpenTracing basic) text-map / HTTP-header format.

use super::carrier::{Extractor, Injector};
use super::hex;
use crate::context::SpanContext;
use crate::Error;

const FORMAT: &str = "lightstep";
const TRACE_ID: &str = "ot-tracer-traceid";
const SPAN_ID: &str = "ot-tracer-spanid";
const SAMPLED: &str = "ot-tracer-sampled";
const BAGGAGE_PREFIX: &str = "ot-baggage-";

pub(crate) fn inject(context: &SpanContext, carrier: &mut impl Injector) {
    carrier.set(TRACE_ID, format!("{:x}", context.trace_id));
    carrier.set(SPAN_ID, format!("{:x}", context.span_id));
    carrier.set(
        SAMPLED,
        if context.sampled { "true" } else { "false" }.to_owned(),
    );
    inject_baggage(context, carrier);
}

/// Baggage as `ot-baggage-<key>`, shared with the B3 format (which has none of its own).
pub(crate) fn inject_baggage(context: &SpanContext, carrier: &mut impl Injector) {
    for (key, value) in context.baggage() {
        carrier.set(&format!("{BAGGAGE_PREFIX}{key}"), value.clone());
    }
}

/// Reads `ot-baggage-*` items (keys lower-cased) into `context`.
pub(crate) fn extract_baggage(carrier: &impl Extractor, context: &mut SpanContext) {
    for (key, value) in carrier.pairs() {
        if let Some(name) = strip_prefix_ignore_case(key, BAGGAGE_PREFIX) {
            if !name.is_empty() {
                context.set_baggage_item(name.to_ascii_lowercase(), value.to_owned());
            }
        }
    }
}

pub(crate) fn has_baggage(carrier: &impl Extractor) -> bool {
    carrier
        .pairs()
        .any(|(key, _)| strip_prefix_ignore_case(key, BAGGAGE_PREFIX).is_some())
}

fn strip_prefix_ignore_case<'a>(key: &'a str, prefix: &str) -> Option<&'a str> {
    let head = key.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &key[prefix.len()..])
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

pub(crate) fn extract(carrier: &impl Extractor) -> Result<Option<SpanContext>, Error> {
    let trace_id = carrier.get(TRACE_ID);
    let span_id = carrier.get(SPAN_ID);
    let sampled = carrier.get(SAMPLED);
    if trace_id.is_none() && span_id.is_none() && sampled.is_none() {
        if has_baggage(carrier) {
            return Err(Error::corrupted(
                FORMAT,
                BAGGAGE_PREFIX,
                "baggage without a trace id and span id",
            ));
        }
        return Ok(None);
    }
    let missing = |key: &str| Error::corrupted(FORMAT, key, "missing");
    let trace_id = trace_id.ok_or_else(|| missing(TRACE_ID))?;
    let span_id = span_id.ok_or_else(|| missing(SPAN_ID))?;
    let sampled = sampled.ok_or_else(|| missing(SAMPLED))?;
    let mut context = SpanContext::from_ids(
        0,
        hex::parse_u64(trace_id).map_err(|e| Error::corrupted(FORMAT, TRACE_ID, e))?,
        hex::parse_u64(span_id).map_err(|e| Error::corrupted(FORMAT, SPAN_ID, e))?,
        parse_sampled(sampled)
            .ok_or_else(|| Error::corrupted(FORMAT, SAMPLED, "expected true, false, 1 or 0"))?,
    );
    extract_baggage(carrier, &mut context);
    Ok(Some(context))
}
